package fakegoogle

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/idtoken"
)

// iapPublicKeys reads both of IAP's key endpoints with the test's own
// decoding and checks that they publish the same P-256 keys.
func iapPublicKeys(t *testing.T, f *testFake) map[string]*ecdsa.PublicKey {
	t.Helper()
	var set struct {
		Keys []struct{ Alg, Crv, Kid, Kty, Use, X, Y string }
	}
	r := get(t, f.URL+"/iap/verify/public_key-jwk", nil)
	if err := json.Unmarshal(r.body, &set); err != nil || r.status != http.StatusOK {
		t.Fatalf("public_key-jwk: %d %s (%v)", r.status, r.body, err)
	}
	out := map[string]*ecdsa.PublicKey{}
	for _, k := range set.Keys {
		x, _ := base64.RawURLEncoding.DecodeString(k.X)
		y, _ := base64.RawURLEncoding.DecodeString(k.Y)
		if k.Alg != "ES256" || k.Crv != "P-256" || k.Kty != "EC" || k.Use != "sig" || len(x) != 32 || len(y) != 32 {
			t.Fatalf("JWK %+v: want an ES256 P-256 signing key", k)
		}
		out[k.Kid] = &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	}
	var pems map[string]string
	if err := json.Unmarshal(get(t, f.URL+"/iap/verify/public_key", nil).body, &pems); err != nil {
		t.Fatal(err)
	}
	if len(pems) != len(out) || len(out) != 2 {
		t.Fatalf("public_key has %d keys, public_key-jwk %d; want the same two", len(pems), len(out))
	}
	for kid, p := range pems {
		block, _ := pem.Decode([]byte(p))
		if block == nil || block.Type != "PUBLIC KEY" {
			t.Fatalf("public_key[%s] = %q; want a PEM PUBLIC KEY", kid, p)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil || out[kid] == nil || !out[kid].Equal(pub) {
			t.Fatalf("public_key[%s] differs from the JWK (%v)", kid, err)
		}
	}
	return out
}

// verifyES256 checks a compact JWS's r||s signature by hand.
func verifyES256(t *testing.T, jwt string, keys map[string]*ecdsa.PublicKey) map[string]any {
	t.Helper()
	header, claims := decodeJWT(t, jwt)
	if header["alg"] != "ES256" || header["typ"] != "JWT" {
		t.Fatalf("header %v; want alg ES256, typ JWT", header)
	}
	kid, _ := header["kid"].(string)
	pub := keys[kid]
	parts := strings.Split(jwt, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if pub == nil || len(sig) != 64 || !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatalf("assertion does not verify with the published key %q", kid)
	}
	return claims
}

func TestIAPFront(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	keys := iapPublicKeys(t, f)
	sa, _ := f.ServiceAccount(DefaultServiceAccount)
	const backendAud = "/projects/" + DefaultProjectNumber + "/global/backendServices/4242"
	var seen http.Header
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Clone() })
	front, err := f.IAP(IAPOptions{Audience: backendAud, Backend: app, Members: []string{sa.Email}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(front)
	t.Cleanup(ts.Close)
	idt := saIDToken(t, f, DefaultServiceAccount, DefaultIAPClientID, time.Now())

	r := get(t, ts.URL+"/anything", http.Header{"Proxy-Authorization": {"Bearer " + idt}, "Authorization": {"Bearer app-token"},
		"X-Goog-Iap-Jwt-Assertion": {"forged"}, "X-Goog-Authenticated-User-Email": {"accounts.google.com:evil@example.com"}})
	if r.status != http.StatusOK {
		t.Fatalf("through IAP: %d %s", r.status, r.body)
	}
	claims := verifyES256(t, seen.Get("X-Goog-Iap-Jwt-Assertion"), keys)
	want := map[string]any{"aud": backendAud, "iss": IAPIssuer, "email": sa.Email, "sub": "accounts.google.com:" + sa.UniqueID}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("assertion %s = %v; want %v", k, claims[k], v)
		}
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 600 {
		t.Errorf("assertion lives %v s; want 600", exp-iat)
	}
	if got := seen.Get("X-Goog-Authenticated-User-Email"); got != "accounts.google.com:"+sa.Email {
		t.Errorf("user email header = %q; want IAP's, not the caller's", got)
	}
	if seen.Get("Proxy-Authorization") != "" || seen.Get("Authorization") != "Bearer app-token" {
		t.Errorf("headers %v; want Proxy-Authorization consumed and Authorization passed on", seen)
	}

	// The project's own IAP verifier, fed from the fake's JWKS URL.
	ks, err := idtoken.NewKeySet(&idtoken.KeySetOptions{URL: f.URL + "/iap/verify/public_key-jwk"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := idtoken.NewIAPVerifier(&idtoken.Options{Audiences: []string{backendAud}, KeySet: ks})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), seen.Get("X-Goog-Iap-Jwt-Assertion")); err != nil {
		t.Errorf("idtoken.NewIAPVerifier rejects the fake's assertion: %v", err)
	}

	other := saIDToken(t, f, DefaultTargetServiceAccount, DefaultIAPClientID, time.Now())
	for _, tt := range []struct {
		name   string
		hdr    http.Header
		status int
		text   string
	}{
		{"no token", nil, 401, "empty token"},
		{"access token", http.Header{"Authorization": {"Bearer ya29.x"}}, 401, "Unable to parse JWT"},
		{"ID token for another audience", http.Header{"Authorization": {"Bearer " + saIDToken(t, f, DefaultServiceAccount, "https://elsewhere", time.Now())}}, 401, "doesn't match expected value"},
		{"not a member", http.Header{"Authorization": {"Bearer " + other}}, 403, "You don't have access"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			r := get(t, ts.URL+"/x", tt.hdr)
			if r.status != tt.status || !strings.Contains(string(r.body), tt.text) || seen != nil {
				t.Errorf("%d %q (app reached: %v); want %d containing %q", r.status, r.body, seen != nil, tt.status, tt.text)
			}
		})
	}
	for _, aud := range []string{"", "/projects/abc/apps/x", "/projects/123456/apps/", "/projects/123456/global/backendServices"} {
		if _, err := f.IAP(IAPOptions{Audience: aud, Backend: app}); err == nil {
			t.Errorf("IAP(Audience %q) accepted", aud)
		}
	}
}

// TestIAPSample calls the sample service behind the fake's IAP: the app
// checks the assertion the front signed.
func TestIAPSample(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	idt := saIDToken(t, f, DefaultServiceAccount, DefaultIAPClientID, time.Now())
	r := get(t, f.IAPSampleURL()+"?start=1&end=3", http.Header{"Authorization": {"Bearer " + idt}})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), DefaultServiceAccount) {
		t.Fatalf("IAP sample: %d %s; want 200 naming the caller", r.status, r.body)
	}
	if r := get(t, f.IAPSampleURL()+"?start=1&end=3", nil); r.status != http.StatusUnauthorized {
		t.Errorf("IAP sample without a token: %d; want 401", r.status)
	}
	// An assertion for another app is refused by the sample itself.
	bad, err := f.MintIAPAssertion("/projects/"+DefaultProjectNumber+"/apps/other-app", DefaultServiceAccount, "1")
	if err != nil {
		t.Fatal(err)
	}
	keys := iapPublicKeys(t, f)
	if c := verifyES256(t, bad, keys); c["aud"] != "/projects/"+DefaultProjectNumber+"/apps/other-app" {
		t.Errorf("minted assertion aud = %v", c["aud"])
	}
}

func TestIAPKeysSurviveState(t *testing.T) {
	t.Parallel()
	old := newFake(t, nil)
	tok, err := old.MintIAPAssertion(DefaultIAPAudience, DefaultUser, "1")
	if err != nil {
		t.Fatal(err)
	}
	st, err := old.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(t, nil)
	if err := f.LoadState(st); err != nil {
		t.Fatal(err)
	}
	verifyES256(t, tok, iapPublicKeys(t, f))
}
