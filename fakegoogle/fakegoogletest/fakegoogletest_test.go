package fakegoogletest_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/fakegoogle/fakegoogletest"
	"github.com/gcptoken/gcptoken/idtoken"
)

func startFake(t *testing.T) *fakegoogle.Running {
	t.Helper()
	f, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Verifier accepts the fake's tokens for its audience only.
func TestVerifier(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	const aud = "https://my-service.example"
	v := fakegoogletest.Verifier(t, f, aud)
	tok, err := f.MintIDToken(fakegoogle.DefaultServiceAccount, aud)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Email != fakegoogle.DefaultServiceAccount {
		t.Errorf("email = %q; want %q", c.Email, fakegoogle.DefaultServiceAccount)
	}
	other, _ := f.MintIDToken(fakegoogle.DefaultServiceAccount, "https://other.example")
	if _, err := v.Verify(context.Background(), other); idtoken.ReasonOf(err) != idtoken.ReasonAudience {
		t.Errorf("token for another audience: %v; want reason %q", err, idtoken.ReasonAudience)
	}
	foreign, _ := startFake(t).MintIDToken(fakegoogle.DefaultServiceAccount, aud)
	if _, err := v.Verify(context.Background(), foreign); err == nil {
		t.Error("a token signed by another fake verified")
	}
}

// Under SetADC, code that uses Application Default Credentials unchanged
// gets the fake's: access tokens, impersonation (at the fake's IAM), ID
// tokens that its sample service and idtoken.Validate accept. Not
// parallel: SetADC uses t.Setenv.
func TestSetADC(t *testing.T) {
	f := startFake(t)
	fakegoogletest.SetADC(t, f)
	ctx := context.Background()
	if _, err := credentials.AccessToken(ctx); err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.Detect(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if creds.ProjectID != fakegoogle.DefaultProjectID {
		t.Errorf("ProjectID = %q; want %q", creds.ProjectID, fakegoogle.DefaultProjectID)
	}
	imp, err := credentials.Impersonate(creds, &credentials.ImpersonateOptions{Target: fakegoogle.DefaultTargetServiceAccount})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := imp.AccessTokenProvider(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Token(ctx); err != nil {
		t.Fatalf("impersonation at the fake: %v", err)
	}
	client, err := idtoken.NewClient(ctx, f.SampleServiceURL())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(f.SampleServiceURL() + "?start=1&end=2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("sample service: %s; want 200", resp.Status)
	}
	tok, err := credentials.IDToken(ctx, "https://my-service.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idtoken.Validate(ctx, tok.Value, "https://my-service.example"); err != nil {
		t.Errorf("Validate with the fake's keys: %v", err)
	}
}
