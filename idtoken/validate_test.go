package idtoken_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/idtoken"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// nowClaims are googleClaims issued now (Validate has no injected clock).
func nowClaims(changes map[string]any) map[string]any {
	c := with(changes)
	c["iat"], c["exp"] = time.Now().Unix(), time.Now().Add(time.Hour).Unix()
	return c
}

// A Validator checks Google ID tokens with the RS256 keys and IAP
// assertions with the ES256 keys, and fills Payload as Google's does.
func TestValidator(t *testing.T) {
	t.Parallel()
	google := googleJWKS(t)
	iap := newJWKSServer(t, ecJWK(ecKid, &keys().ec.PublicKey))
	v, err := idtoken.NewValidator(&idtoken.ValidatorOptions{RS256CertsURL: google.URL, ES256CertsURL: iap.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := rs256(t, nowClaims(nil))
	p, err := v.Validate(ctx, tok, testAud)
	if err != nil {
		t.Fatal(err)
	}
	if p.Issuer != testIssuer || p.Audience != testAud || p.Subject != "112233445566778899001" || p.Claims["email"] != testEmail ||
		p.Expires <= time.Now().Unix() || p.IssuedAt > time.Now().Unix() {
		t.Errorf("Payload = %+v; want the token's claims", p)
	}
	iapTok := es256(t, nowClaims(map[string]any{"iss": idtoken.IAPIssuer, "aud": "/projects/1/apps/p"}))
	if p, err = v.Validate(ctx, iapTok, "/projects/1/apps/p"); err != nil || p.Issuer != idtoken.IAPIssuer {
		t.Errorf("IAP assertion: %+v, %v; want it valid", p, err)
	}
	if _, err := v.Validate(ctx, es256(t, nowClaims(nil)), testAud); idtoken.ReasonOf(err) != idtoken.ReasonIssuer {
		t.Errorf("ES256 token with Google's issuer: err = %v; want reason %q", err, idtoken.ReasonIssuer)
	}
	if _, err := v.Validate(ctx, tok, "https://other.example"); idtoken.ReasonOf(err) != idtoken.ReasonAudience {
		t.Errorf("wrong audience: err = %v; want reason %q", err, idtoken.ReasonAudience)
	}
	if _, err := v.Validate(ctx, tok, ""); err == nil || !strings.Contains(err.Error(), "needs the audience") {
		t.Errorf("empty audience: err = %v; want a refusal (Google's would skip the check)", err)
	}
	if n := google.requests.Load(); n != 1 {
		t.Errorf("got %d key fetches; want 1 (cached)", n)
	}
	if pp, err := idtoken.ParsePayload(rs256(t, with(map[string]any{"aud": "x"}))); err != nil || pp.Audience != "x" {
		t.Errorf("ParsePayload = %+v, %v; want aud x", pp, err)
	}
}

// NewTokenSource and NewClient mint ID tokens from given credentials that
// a service (the fake's sample service, checking them with its own code)
// and Validate (with the fake's keys) accept.
func TestNewClientAndTokenSource(t *testing.T) {
	t.Parallel()
	f, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	key, err := f.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.FromJSON(key, &credentials.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	aud := f.SampleServiceURL()
	opts := &idtoken.ClientOptions{Credentials: creds}
	client, err := idtoken.NewClient(ctx, aud, opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		resp, err := client.Get(aud + "?start=1&end=2")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("sample service answered %s; want 200", resp.Status)
		}
	}
	ts, err := idtoken.NewTokenSource(ctx, aud, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if n := f.RequestCount("/token"); n != 2 {
		t.Errorf("got %d token requests for a client (2 calls) and a token source; want 2 (cached)", n)
	}
	v, err := idtoken.NewValidator(&idtoken.ValidatorOptions{RS256CertsURL: f.URL + "/oauth2/v3/certs"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Validate(ctx, tok.AccessToken, aud)
	if err != nil {
		t.Fatal(err)
	}
	if p.Claims["email"] != fakegoogle.DefaultServiceAccount {
		t.Errorf("email = %v; want %s", p.Claims["email"], fakegoogle.DefaultServiceAccount)
	}
	for name, err := range map[string]error{
		"empty audience":      errOf(idtoken.NewClient(ctx, "", opts)),
		"two options":         errOf(idtoken.NewClient(ctx, aud, opts, opts)),
		"token source Header": errOf(idtoken.NewTokenSource(ctx, aud, &idtoken.ClientOptions{Credentials: creds, Header: "Authorization"})),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func errOf[T any](_ T, err error) error { return err }

// Under GCPTOKEN_EMULATOR_HOST the package-level Validate fetches the
// emulator's keys. Not parallel: t.Setenv.
func TestValidateFollowsEmulator(t *testing.T) {
	f, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	t.Setenv(endpoints.EnvEmulatorHost, strings.TrimPrefix(f.URL, "http://"))
	t.Setenv(endpoints.EnvCertsURL, "")
	key, _ := f.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	creds, err := credentials.FromJSON(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := idtoken.NewTokenSource(context.Background(), "https://svc.example", &idtoken.ClientOptions{Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idtoken.Validate(context.Background(), tok.AccessToken, "https://svc.example"); err != nil {
		t.Fatal(err)
	}
	var ve *idtoken.VerifyError
	if _, err := idtoken.Validate(context.Background(), tok.AccessToken, "https://other.example"); !errors.As(err, &ve) {
		t.Errorf("wrong audience: err = %v; want a *VerifyError", err)
	}
}
