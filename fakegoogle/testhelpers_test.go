package fakegoogle

import (
	"encoding/json"
	"net/http"
	"testing"
)

// MintIDToken's tokens are what the token endpoint issues: the sample
// service (the fake's own verification) accepts them, and they verify with
// the key published at CertsURL, checked independently of the fake's JWT
// code.
func TestMintIDToken(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	tok, err := f.MintIDToken(DefaultServiceAccount, f.SampleServiceURL())
	if err != nil {
		t.Fatal(err)
	}
	r := get(t, f.SampleServiceURL()+"?start=1&end=2", http.Header{"Authorization": {"Bearer " + tok}})
	if r.status != http.StatusOK {
		t.Errorf("sample service: %d %s; want 200", r.status, r.body)
	}
	if got, want := f.CertsURL(), f.URL+"/oauth2/v3/certs"; got != want {
		t.Errorf("CertsURL() = %q; want %q", got, want)
	}
	priv, err := f.signingKey().private()
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyRS256(tok, &priv.PublicKey); err != nil {
		t.Errorf("signature: %v", err)
	}
	claims, _, err := f.verifyIDToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := f.ServiceAccount(DefaultServiceAccount)
	want := map[string]any{"aud": f.SampleServiceURL(), "azp": sa.Email, "email": sa.Email, "email_verified": true,
		"iss": googleIssuer, "sub": sa.UniqueID}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v; want %v", k, claims[k], v)
		}
	}
	exp, _ := claims["exp"].(json.Number).Int64()
	iat, _ := claims["iat"].(json.Number).Int64()
	if exp-iat != 3600 {
		t.Errorf("lifetime %ds; want 3600", exp-iat)
	}
	for _, tc := range []struct{ sa, aud string }{{"nobody@x.iam.gserviceaccount.com", "a"}, {DefaultServiceAccount, ""}} {
		if _, err := f.MintIDToken(tc.sa, tc.aud); err == nil {
			t.Errorf("MintIDToken(%q, %q): no error", tc.sa, tc.aud)
		}
	}
}
