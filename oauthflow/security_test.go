package oauthflow

// Security regression tests (docs/security.md): each names the attack it
// stops. Run them all with `go test -run Security ./...`.

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// TestSecuritySignInErrorEscaped: the sign-in redirect is a URL that any
// web page (or a hostile authorization server) can forge, carrying an error
// and error_description with terminal escapes and a forged second line.
// The error that `gcptoken login` prints shows them escaped, on one line.
func TestSecuritySignInErrorEscaped(t *testing.T) {
	t.Parallel()
	flow := &WebFlow{
		Config:      &Config{ClientID: "c", ClientSecret: "s", Scopes: []string{"openid"}, AuthURL: "https://auth.example/auth", TokenURL: "https://auth.example/token"},
		RedirectURI: "https://app.example/callback",
	}
	p, err := flow.Start("")
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{
		"state":             {p.State},
		"error":             {"access_denied\x1b]0;owned\x07"},
		"error_description": {"denied\u202e\ngcptoken: Signed in as admin@example.com\x1b[2J"},
	}
	_, err = flow.Finish(t.Context(), p, q)
	var ae *AuthorizationError
	if !errors.As(err, &ae) {
		t.Fatalf("Finish error = %v; want an *AuthorizationError", err)
	}
	if msg := err.Error(); strings.ContainsAny(msg, "\x1b\x07\n\u202e") {
		t.Errorf("Error() = %q holds the redirect's control characters", msg)
	}
}
