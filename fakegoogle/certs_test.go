package fakegoogle

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

// parsePEMCerts decodes a {kid: PEM certificate} map into public keys.
func parsePEMCerts(t *testing.T, r response) map[string]*rsa.PublicKey {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("PEM map: %v (body %s)", err, r.body)
	}
	out := map[string]*rsa.PublicKey{}
	for kid, p := range m {
		block, rest := pem.Decode([]byte(p))
		if block == nil || block.Type != "CERTIFICATE" || len(strings.TrimSpace(string(rest))) != 0 {
			t.Fatalf("kid %s: not a single PEM certificate: %q", kid, p)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("kid %s: %v", kid, err)
		}
		if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
			t.Errorf("kid %s: certificate is not validly self-signed: %v", kid, err)
		}
		out[kid] = cert.PublicKey.(*rsa.PublicKey)
	}
	return out
}

// parseJWKS decodes a JWKS, checking the encoding rules clients rely on.
func parseJWKS(t *testing.T, r response) map[string]*rsa.PublicKey {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(r.body, &set); err != nil {
		t.Fatalf("JWKS: %v (body %s)", err, r.body)
	}
	out := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if got := slices.Sorted(maps.Keys(k)); !slices.Equal(got, []string{"alg", "e", "kid", "kty", "n", "use"}) {
			t.Errorf("JWK fields = %q", got)
		}
		if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" {
			t.Errorf("JWK kty/alg/use = %q/%q/%q; want RSA/RS256/sig", k["kty"], k["alg"], k["use"])
		}
		if k["e"] != "AQAB" {
			t.Errorf("JWK e = %q; want %q", k["e"], "AQAB")
		}
		n, err := base64.RawURLEncoding.DecodeString(k["n"])
		if err != nil {
			t.Errorf("JWK n is not unpadded base64url: %v", err)
		}
		out[k["kid"]] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	}
	return out
}

func wantCertHeaders(t *testing.T, r response, now time.Time) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status = %d; want 200 (body %s)", r.status, r.body)
	}
	for h, want := range map[string]string{
		"Content-Type":  "application/json; charset=UTF-8",
		"Cache-Control": "public, max-age=21600, must-revalidate, no-transform",
		"Expires":       now.Add(6 * time.Hour).Format(http.TimeFormat),
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q; want %q", h, got, want)
		}
	}
}

func TestSigningCerts(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	rj := get(t, f.URL+"/oauth2/v3/certs", nil)
	wantCertHeaders(t, rj, clock.Now())
	jwks := parseJWKS(t, rj)
	rp := get(t, f.URL+"/oauth2/v1/certs", nil)
	wantCertHeaders(t, rp, clock.Now())
	pems := parsePEMCerts(t, rp)

	if len(jwks) != 2 {
		t.Errorf("JWKS has %d keys; want 2", len(jwks))
	}
	if got, want := slices.Sorted(maps.Keys(pems)), slices.Sorted(maps.Keys(jwks)); !slices.Equal(got, want) {
		t.Errorf("v1 kids = %q; want the v3 kids %q", got, want)
	}
	for kid, k := range jwks {
		if !hex40.MatchString(kid) {
			t.Errorf("kid = %q; want 40 hex characters", kid)
		}
		if p := pems[kid]; p == nil || !p.Equal(k) {
			t.Errorf("kid %s: v1 certificate key differs from the v3 JWK", kid)
		}
	}
	// The same bytes on every call, so clients caching by kid are not
	// confused.
	if again := get(t, f.URL+"/oauth2/v1/certs", nil); string(again.body) != string(rp.body) {
		t.Errorf("v1 certs changed between calls")
	}
}

// TestIDTokenIndependentVerification checks ID tokens with a verifier that
// shares no code with the fake: crypto/x509 against the v1 certificates.
// (crosscheck's TestGoOIDCVerifiesFakeIDTokens checks them with go-oidc
// against the JWKS.)
func TestIDTokenIndependentVerification(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	idt := saIDToken(t, f, DefaultServiceAccount, "https://svc.example.com", time.Now())

	header, _ := decodeJWT(t, idt)
	pub := parsePEMCerts(t, get(t, f.URL+"/oauth2/v1/certs", nil))[header["kid"].(string)]
	if pub == nil {
		t.Fatalf("kid %v not in /oauth2/v1/certs", header["kid"])
	}
	if err := verifyRS256(idt, pub); err != nil {
		t.Errorf("verify with v1 certificate: %v", err)
	}
}

func TestServiceAccountPublicKeys(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	kf, priv := saKey(t, f, DefaultServiceAccount)
	for _, p := range []string{
		kf.ClientX509CertURL,
		f.URL + "/robot/v1/metadata/x509/" + DefaultServiceAccount,
		f.URL + "/service_accounts/v1/metadata/x509/" + url.PathEscape(DefaultServiceAccount),
	} {
		r := get(t, p, nil)
		wantCertHeaders(t, r, clock.Now())
		keys := parsePEMCerts(t, r)
		if len(keys) != 1 || keys[kf.PrivateKeyID] == nil || !keys[kf.PrivateKeyID].Equal(&priv.PublicKey) {
			t.Errorf("%s: keys %v; want only private_key_id %s with the key file's key", p, slices.Collect(maps.Keys(keys)), kf.PrivateKeyID)
		}
	}
	for _, p := range []string{"/service_accounts/v1/metadata/jwk/", "/service_accounts/v1/jwk/", "/robot/v1/metadata/jwk/"} {
		r := get(t, f.URL+p+DefaultServiceAccount, nil)
		wantCertHeaders(t, r, clock.Now())
		if keys := parseJWKS(t, r); len(keys) != 1 || keys[kf.PrivateKeyID] == nil || !keys[kf.PrivateKeyID].Equal(&priv.PublicKey) {
			t.Errorf("%s: keys %v; want only %s with the key file's key", p, slices.Collect(maps.Keys(keys)), kf.PrivateKeyID)
		}
	}
	r := get(t, f.URL+"/service_accounts/v1/metadata/raw/"+DefaultServiceAccount, nil)
	wantCertHeaders(t, r, clock.Now())
	if keys := parseRawKeys(t, r); len(keys) != 1 || keys[kf.PrivateKeyID] == nil || !keys[kf.PrivateKeyID].Equal(&priv.PublicKey) {
		t.Errorf("raw: keys %v; want only %s with the key file's key", slices.Collect(maps.Keys(keys)), kf.PrivateKeyID)
	}
	if r := get(t, f.URL+"/robot/v1/metadata/x509/nobody@example.com", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown account: status = %d; want 404", r.status)
	}
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	m := get(t, f.URL+"/.well-known/openid-configuration", nil).json(t)
	want := map[string]string{
		"issuer":                        "https://accounts.google.com",
		"authorization_endpoint":        f.URL + "/o/oauth2/v2/auth",
		"device_authorization_endpoint": f.URL + "/device/code",
		"token_endpoint":                f.URL + "/token",
		"userinfo_endpoint":             f.URL + "/v1/userinfo",
		"revocation_endpoint":           f.URL + "/revoke",
		"jwks_uri":                      f.URL + "/oauth2/v3/certs",
	}
	for k, v := range want {
		if got := m[k]; got != v {
			t.Errorf("%s = %q; want %q", k, got, v)
		}
	}
	for _, k := range []string{"response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported",
		"scopes_supported", "token_endpoint_auth_methods_supported", "claims_supported",
		"code_challenge_methods_supported", "grant_types_supported"} {
		if _, ok := m[k].([]any); !ok {
			t.Errorf("%s = %#v; want a list", k, m[k])
		}
	}
}

// Under Google's real name (the HTTPS front), the discovery document points
// at Google's hosts, so clients that follow it stay on names the front
// serves; a plain request for the same host name does not.
func TestDiscoveryUnderGoogleHost(t *testing.T) {
	t.Parallel()
	s, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.SetBaseURL("http://127.0.0.1:8086")
	for _, tc := range []struct {
		name     string
		tls      bool
		wantAuth string
		wantJWKS string
	}{
		{"https accounts.google.com", true, "https://accounts.google.com/o/oauth2/v2/auth", "https://www.googleapis.com/oauth2/v3/certs"},
		{"plain http", false, "http://127.0.0.1:8086/o/oauth2/v2/auth", "http://127.0.0.1:8086/oauth2/v3/certs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "https://accounts.google.com/.well-known/openid-configuration", nil)
			if !tc.tls {
				r.TLS = nil
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			var m map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
				t.Fatalf("discovery body %q: %v", w.Body, err)
			}
			if got := m["authorization_endpoint"]; got != tc.wantAuth {
				t.Errorf("authorization_endpoint = %q; want %q", got, tc.wantAuth)
			}
			if got := m["jwks_uri"]; got != tc.wantJWKS {
				t.Errorf("jwks_uri = %q; want %q", got, tc.wantJWKS)
			}
			if tc.tls && m["token_endpoint"] != "https://oauth2.googleapis.com/token" {
				t.Errorf("token_endpoint = %q; want Google's", m["token_endpoint"])
			}
		})
	}
}

// parseRawKeys decodes the "raw" key form: {"keyvalues": [{"algorithm":
// "RSA", "modulus", "exponent" (standard base64, big-endian), "keyid"}]}.
func parseRawKeys(t *testing.T, r response) map[string]*rsa.PublicKey {
	t.Helper()
	var set struct {
		KeyValues []struct {
			Algorithm string `json:"algorithm"`
			Modulus   string `json:"modulus"`
			Exponent  string `json:"exponent"`
			KeyID     string `json:"keyid"`
		} `json:"keyvalues"`
	}
	if err := json.Unmarshal(r.body, &set); err != nil {
		t.Fatalf("raw keys %s: %v", r.body, err)
	}
	out := map[string]*rsa.PublicKey{}
	for _, k := range set.KeyValues {
		n, errN := base64.StdEncoding.DecodeString(k.Modulus)
		e, errE := base64.StdEncoding.DecodeString(k.Exponent)
		if k.Algorithm != "RSA" || errN != nil || errE != nil {
			t.Fatalf("raw key %+v: algorithm not RSA or bad base64 (%v, %v)", k, errN, errE)
		}
		out[k.KeyID] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return out
}

// TestSignJwtVerifiesWithPublishedKeys is how a receiver checks a JWT made
// by signJwt: with the signer's public keys in any of the three forms Google
// publishes, looked up by the JWT's kid.
func TestSignJwtVerifiesWithPublishedKeys(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	caller := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, time.Now())
	r := iamPost(t, f, caller, DefaultTargetServiceAccount, "signJwt", map[string]string{"payload": `{"iss":"x","aud":"y"}`})
	if r.status != http.StatusOK {
		t.Fatalf("signJwt: %d %s", r.status, r.body)
	}
	jwt, _ := r.json(t)["signedJwt"].(string)
	header, _ := decodeJWT(t, jwt)
	kid, _ := header["kid"].(string)
	email := url.PathEscape(DefaultTargetServiceAccount)
	for name, keys := range map[string]map[string]*rsa.PublicKey{
		"x509": parsePEMCerts(t, get(t, f.URL+"/service_accounts/v1/metadata/x509/"+email, nil)),
		"jwk":  parseJWKS(t, get(t, f.URL+"/service_accounts/v1/metadata/jwk/"+email, nil)),
		"raw":  parseRawKeys(t, get(t, f.URL+"/service_accounts/v1/metadata/raw/"+email, nil)),
	} {
		if keys[kid] == nil {
			t.Errorf("%s: no key %q", name, kid)
			continue
		}
		if err := verifyRS256(jwt, keys[kid]); err != nil {
			t.Errorf("%s: signJwt output does not verify: %v", name, err)
		}
	}
}

// TestFirebaseIDToken verifies a minted Firebase ID token against
// securetoken@system.gserviceaccount.com's certificates, where Firebase's
// verifiers fetch them.
func TestFirebaseIDToken(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	tok, err := f.MintFirebaseIDToken("fb-project", "uid-42", "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	header, claims := decodeJWT(t, tok)
	want := map[string]any{"iss": "https://securetoken.google.com/fb-project", "aud": "fb-project", "sub": "uid-42",
		"user_id": "uid-42", "email": "a@example.com", "email_verified": true,
		"iat": float64(clock.Now().Unix()), "exp": float64(clock.Now().Unix() + 3600)}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v; want %v", k, claims[k], v)
		}
	}
	if fb, _ := claims["firebase"].(map[string]any); fb["sign_in_provider"] != "password" {
		t.Errorf("firebase = %v; want sign_in_provider password", claims["firebase"])
	}
	kid, _ := header["kid"].(string)
	for _, p := range []string{"/robot/v1/metadata/x509/", "/service_accounts/v1/jwk/"} {
		r := get(t, f.URL+p+SecureTokenServiceAccount, nil)
		var keys map[string]*rsa.PublicKey
		if strings.Contains(p, "jwk") {
			keys = parseJWKS(t, r)
		} else {
			keys = parsePEMCerts(t, r)
		}
		if len(keys) != 2 || keys[kid] == nil {
			t.Fatalf("%s: keys %v; want two, with %s", p, slices.Collect(maps.Keys(keys)), kid)
		}
		if err := verifyRS256(tok, keys[kid]); err != nil {
			t.Errorf("%s: Firebase token does not verify: %v", p, err)
		}
	}
	if _, err := f.MintFirebaseIDToken("", "u", ""); err == nil {
		t.Error("MintFirebaseIDToken without a project succeeded")
	}
}

// TestDiscoveryAdvertisesOnlyServedURLs fetches every URL the discovery
// document lists: none may answer 404.
func TestDiscoveryAdvertisesOnlyServedURLs(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	var doc map[string]any
	if err := json.Unmarshal(get(t, f.URL+"/.well-known/openid-configuration", nil).body, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for k, v := range doc {
		u, ok := v.(string)
		if !ok || !strings.HasPrefix(u, "http") || k == "issuer" {
			continue
		}
		n++
		if r := get(t, u, nil); r.status == http.StatusNotFound {
			t.Errorf("%s %s answers 404: %s", k, u, r.body)
		}
	}
	if n < 6 {
		t.Errorf("discovery lists %d endpoint URLs; want at least 6", n)
	}
}
