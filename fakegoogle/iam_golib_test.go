package fakegoogle

import (
	"context"
	"net/http"
	"testing"

	"cloud.google.com/go/auth/credentials"
)

// TestGoImpersonatedCredentials has Google's Go library read the files
// ImpersonatedServiceAccountJSON writes: it must follow
// service_account_impersonation_url to the fake, send the source token and
// the delegates, and accept the answer (RFC 3339 expireTime).
func TestGoImpersonatedCredentials(t *testing.T) {
	t.Parallel()
	f := newFake(t, &Options{RSAKeyBits: 2048})
	// deep is reachable only through delegate, so a client that dropped
	// the file's delegates would get a 403.
	const (
		delegate = "hop@fake-project.iam.gserviceaccount.com"
		deep     = "deep@fake-project.iam.gserviceaccount.com"
	)
	mustAddSA(t, f, delegate)
	mustAddSA(t, f, deep)
	mustGrant(t, f, DefaultServiceAccount, delegate)
	mustGrant(t, f, delegate, deep)
	saSource, err := f.ServiceAccountKeyJSON(DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := f.IssueRefreshToken(DefaultClientID, DefaultUser, []string{cloudPlatform})
	if err != nil {
		t.Fatal(err)
	}
	userSource, err := f.AuthorizedUserJSON(DefaultClientID, rt)
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name      string
		source    []byte
		target    string
		delegates []string
	}{
		{"service account source", saSource, DefaultTargetServiceAccount, nil},
		{"service account source, one delegate", saSource, deep, []string{delegate}},
		// Go sends authorized_user refreshes to DetectOptions.TokenURL, not
		// the file's token_uri.
		{"authorized_user source", userSource, DefaultTargetServiceAccount, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target, _ := f.ServiceAccount(tt.target)
			path := "/v1/projects/-/serviceAccounts/" + tt.target + ":generateAccessToken"
			file, err := f.ImpersonatedServiceAccountJSON(tt.source, tt.target, tt.delegates)
			if err != nil {
				t.Fatal(err)
			}
			before := f.RequestCount(path)
			creds, err := credentials.NewCredentialsFromJSON(credentials.ImpersonatedServiceAccount, file, &credentials.DetectOptions{
				Scopes:   []string{cloudPlatform, "https://www.googleapis.com/auth/userinfo.email"},
				TokenURL: f.URL + "/token",
				Client:   http.DefaultClient,
			})
			if err != nil {
				t.Fatalf("NewCredentialsFromJSON: %v", err)
			}
			tok, err := creds.Token(context.Background())
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if tok.Expiry.IsZero() || tok.Type != "Bearer" {
				t.Errorf("got token type %q expiry %v; want Bearer with an expiry", tok.Type, tok.Expiry)
			}
			info := tokeninfo(t, f, tok.Value)
			if info["email"] != tt.target || info["sub"] != target.UniqueID {
				t.Errorf("got tokeninfo email %q sub %q; want the target %q %q", info["email"], info["sub"], tt.target, target.UniqueID)
			}
			if f.RequestCount(path) <= before {
				t.Errorf("the fake saw no generateAccessToken request")
			}
		})
	}
}
