package credentials

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"cloud.google.com/go/auth/httptransport"

	"github.com/gcptoken/gcptoken"
)

// AuthCredentials carries project, quota project and universe to Google's
// transport, which sends the quota project and the (cached) access token.
func TestAuthCredentials(t *testing.T) {
	t.Parallel()
	var ts *tokenServer
	ts = newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
		checkAssertion(t, form, ts.tokenURL())
		return 200, map[string]any{"access_token": "ya29.sa", "expires_in": 3599}
	})
	c, err := FromJSON(mustJSON(t, saFile(t, ts.tokenURL())), isolated(t, map[string]string{
		envProject: "env-project", envQuotaProject: "billed",
	}))
	if err != nil {
		t.Fatal(err)
	}
	ac, err := c.AuthCredentials(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, get := range map[string]func(context.Context) (string, error){
		"env-project": ac.ProjectID, "billed": ac.QuotaProjectID, DefaultUniverseDomain: ac.UniverseDomain,
	} {
		if got, err := get(ctx); err != nil || got != name {
			t.Errorf("got %q, %v; want %q", got, err, name)
		}
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer ya29.sa" || r.Header.Get("X-Goog-User-Project") != "billed" {
			t.Errorf("API got Authorization %q, X-Goog-User-Project %q", r.Header.Get("Authorization"), r.Header.Get("X-Goog-User-Project"))
		}
	}))
	t.Cleanup(api.Close)
	// A non-nil Headers: httptransport v0.24.3 drops the credentials'
	// quota project when Options.Headers is nil (it adds the header to a
	// map its transport never sees).
	client, err := httptransport.NewClient(&httptransport.Options{Credentials: ac, Headers: http.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		resp, err := client.Get(api.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := ts.calls.Load(); n != 1 {
		t.Errorf("got %d token requests for 3 API calls; want 1", n)
	}
	src, err := c.TokenSource(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := src.Token(); err != nil || tok.AccessToken != "ya29.sa" {
		t.Errorf("TokenSource: %v, %v; want ya29.sa", tok, err)
	}
}

// The bridges to Google API clients refuse to pass an ID token on.
func TestBridgesRefuseIDTokens(t *testing.T) {
	t.Parallel()
	id := accessTokensOnly{gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) {
		return &gcptoken.Token{Value: "eyJ.x.y", Kind: gcptoken.IDToken}, nil
	})}
	if _, err := id.Token(context.Background()); !errors.Is(err, errIDTokenForAPI) || !strings.Contains(err.Error(), "access tokens") {
		t.Errorf("got %v; want %v", err, errIDTokenForAPI)
	}
	if _, err := (&Credentials{}).AuthCredentials(nil); err != errNotLoaded {
		t.Errorf("zero Credentials: got %v; want %v", err, errNotLoaded)
	}
}
