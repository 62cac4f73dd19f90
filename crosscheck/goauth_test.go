package crosscheck_test

import (
	"testing"

	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/credentials/idtoken"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

func TestGoCloudAuth(t *testing.T) {
	ctx := goLibContext(t)
	f := newFixture(t)

	t.Run("service_account_access_token", func(t *testing.T) {
		// The type-specific loader is the non-deprecated form of
		// DetectDefault(&DetectOptions{CredentialsFile: …}); both share
		// the same service-account code.
		creds, err := credentials.NewCredentialsFromFile(credentials.ServiceAccount, f.keyFile,
			&credentials.DetectOptions{Scopes: []string{scopeCloudPlatform}})
		if err != nil {
			t.Fatalf("NewCredentialsFromFile: %v", err)
		}
		before := f.tokenRequests()
		tok, err := creds.Token(ctx)
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		if f.tokenRequests() == before {
			t.Error("the fake saw no token request (a self-signed JWT instead?)")
		}
		checkAccessTokenInfo(t, f, "access token", tok.Value, f.sa.UniqueID, scopeCloudPlatform)
		checkExpiry(t, "access token", tok.Expiry)
	})

	t.Run("authorized_user_token_url", func(t *testing.T) {
		// The library ignores the file's token_uri; TokenURL is its knob.
		creds, err := credentials.NewCredentialsFromFile(credentials.AuthorizedUser, f.userFile,
			&credentials.DetectOptions{Scopes: []string{scopeCloudPlatform}, TokenURL: f.fake.URL + "/token"})
		if err != nil {
			t.Fatalf("NewCredentialsFromFile: %v", err)
		}
		tok, err := creds.Token(ctx)
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		checkAccessTokenInfo(t, f, "access token", tok.Value, fakegoogle.DefaultClientID, scopeCloudPlatform)
		checkExpiry(t, "access token", tok.Expiry)
	})

	var idTok string
	t.Run("idtoken_credentials", func(t *testing.T) {
		creds, err := idtoken.NewCredentialsFromFile(credentials.ServiceAccount, f.keyFile,
			&idtoken.Options{Audience: f.sampleURL})
		if err != nil {
			t.Fatalf("idtoken.NewCredentialsFromFile: %v", err)
		}
		tok, err := creds.Token(ctx)
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		idTok = tok.Value
		checkSAIDToken(t, f, "ID token", idTok)
		checkExpiry(t, "ID token", tok.Expiry)
	})

	t.Run("idtoken_validator", func(t *testing.T) {
		if idTok == "" {
			t.Fatal("no ID token to validate: the idtoken_credentials subtest failed")
		}
		v, err := idtoken.NewValidator(&idtoken.ValidatorOptions{RS256CertsURL: f.fake.URL + "/oauth2/v3/certs"})
		if err != nil {
			t.Fatalf("NewValidator: %v", err)
		}
		pl, err := v.Validate(ctx, idTok, f.sampleURL)
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		if pl.Audience != f.sampleURL || pl.Issuer != googleIssuer || pl.Subject != f.sa.UniqueID || pl.Claims["email"] != f.sa.Email {
			t.Errorf("payload = %+v; want aud %q, iss %q, sub %q, email %q", pl, f.sampleURL, googleIssuer, f.sa.UniqueID, f.sa.Email)
		}
		if _, err := v.Validate(ctx, idTok, "https://other.example.com"); err == nil {
			t.Error("Validate with another audience: err = nil; want an audience error")
		}
	})
}
