package crosscheck_test

import (
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

// TestGoOIDCVerifiesFakeIDTokens checks the fake's ID tokens with go-oidc, a
// verifier that shares no code with the fake or with gcptoken's own, against
// the fake's JWKS: the right audience passes with the email claims, another
// audience is refused.
func TestGoOIDCVerifiesFakeIDTokens(t *testing.T) {
	f := newFixture(t)
	idt := mintSAIDToken(t, f)
	ctx := t.Context()
	keys := oidc.NewRemoteKeySet(ctx, f.fake.URL+"/oauth2/v3/certs")
	tok, err := oidc.NewVerifier("https://accounts.google.com", keys, &oidc.Config{ClientID: f.sampleURL}).Verify(ctx, idt)
	if err != nil {
		t.Fatalf("go-oidc Verify: %v", err)
	}
	var c struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := tok.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Email != f.sa.Email || !c.EmailVerified {
		t.Errorf("email, email_verified = %q, %v; want %q, true", c.Email, c.EmailVerified, f.sa.Email)
	}
	if _, err := oidc.NewVerifier("https://accounts.google.com", keys, &oidc.Config{ClientID: "https://other.example"}).Verify(ctx, idt); err == nil {
		t.Errorf("go-oidc accepted the token for another audience")
	}
}
