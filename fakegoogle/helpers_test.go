package fakegoogle

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// The helpers below decode the fake's output with their own structs, never
// the fake's, so a wrong field name cannot hide on both sides.

// testClock is an injectable clock that tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testFake is a Server mounted on an httptest server.
type testFake struct {
	*Server
	URL string
}

// newFake starts a fake for one test. Keys are 1024-bit unless opts says
// otherwise, because key generation dominates test time.
func newFake(t *testing.T, opts *Options) *testFake {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.RSAKeyBits == 0 {
		o.RSAKeyBits = 1024
	}
	s, err := New(&o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	s.SetBaseURL(ts.URL)
	return &testFake{Server: s, URL: ts.URL}
}

// keyFile is the test's own view of a service-account key file.
type keyFile struct {
	Type                    string `json:"type"`
	ProjectID               string `json:"project_id"`
	PrivateKeyID            string `json:"private_key_id"`
	PrivateKey              string `json:"private_key"`
	ClientEmail             string `json:"client_email"`
	ClientID                string `json:"client_id"`
	AuthURI                 string `json:"auth_uri"`
	TokenURI                string `json:"token_uri"`
	AuthProviderX509CertURL string `json:"auth_provider_x509_cert_url"`
	ClientX509CertURL       string `json:"client_x509_cert_url"`
	UniverseDomain          string `json:"universe_domain"`
}

// saKey returns the parsed key file and private key of a service account.
func saKey(t *testing.T, f *testFake, email string) (keyFile, *rsa.PrivateKey) {
	t.Helper()
	raw, err := f.ServiceAccountKeyJSON(email)
	if err != nil {
		t.Fatalf("ServiceAccountKeyJSON(%q): %v", email, err)
	}
	var kf keyFile
	if err := json.Unmarshal(raw, &kf); err != nil {
		t.Fatalf("key file: %v", err)
	}
	block, _ := pem.Decode([]byte(kf.PrivateKey))
	if block == nil {
		t.Fatalf("key file private_key has no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("parse private_key: %v", err)
	}
	return kf, k.(*rsa.PrivateKey)
}

// signJWS builds a compact RS256 JWS with exactly the given header and
// claims, so tests can reproduce each client's header shape.
func signJWS(t *testing.T, priv *rsa.PrivateKey, header, claims any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// decodeJWT returns the header and claims of a compact JWT without checking
// it.
func decodeJWT(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("JWT has %d parts; want 3", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
	}
	return header, claims
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic map.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// postForm POSTs a form with optional extra headers.
func postForm(t *testing.T, u string, form url.Values, hdr http.Header) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header[k] = v
	}
	return do(t, req)
}

func get(t *testing.T, u string, hdr http.Header) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	return do(t, req)
}

// assertionClaimsFor returns valid jwt-bearer claims for email at now.
func assertionClaimsFor(email, aud string, now time.Time) map[string]any {
	return map[string]any{
		"iss":   email,
		"aud":   aud,
		"scope": "https://www.googleapis.com/auth/cloud-platform",
		"iat":   now.Unix(),
		"exp":   now.Unix() + 3600,
	}
}

// saAccessToken gets an access token for a service account via the
// jwt-bearer grant.
func saAccessToken(t *testing.T, f *testFake, email, scope string, now time.Time) string {
	t.Helper()
	kf, priv := saKey(t, f, email)
	c := assertionClaimsFor(email, kf.TokenURI, now)
	c["scope"] = scope
	a := signJWS(t, priv, map[string]string{"alg": "RS256", "typ": "JWT", "kid": kf.PrivateKeyID}, c)
	r := postForm(t, f.URL+"/token", url.Values{"grant_type": {grantJWTBearer}, "assertion": {a}}, nil)
	if r.status != http.StatusOK {
		t.Fatalf("token: status %d, body %s", r.status, r.body)
	}
	return r.json(t)["access_token"].(string)
}

// saIDToken gets an ID token for a service account and audience.
func saIDToken(t *testing.T, f *testFake, email, aud string, now time.Time) string {
	t.Helper()
	kf, priv := saKey(t, f, email)
	c := assertionClaimsFor(email, kf.TokenURI, now)
	delete(c, "scope")
	c["target_audience"] = aud
	a := signJWS(t, priv, map[string]string{"alg": "RS256", "typ": "JWT", "kid": kf.PrivateKeyID}, c)
	r := postForm(t, f.URL+"/token", url.Values{"grant_type": {grantJWTBearer}, "assertion": {a}}, nil)
	if r.status != http.StatusOK {
		t.Fatalf("token: status %d, body %s", r.status, r.body)
	}
	return r.json(t)["id_token"].(string)
}

// refresh runs the refresh grant with the client credentials in the form.
func refresh(t *testing.T, f *testFake, clientID, secret, rt string) response {
	t.Helper()
	return postForm(t, f.URL+"/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {clientID}, "client_secret": {secret},
	}, nil)
}

// wantOAuthError checks an OAuth-style error response.
func wantOAuthError(t *testing.T, r response, status int, code, desc string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d; want %d (body %s)", r.status, status, r.body)
	}
	m := r.json(t)
	if got := m["error"]; got != code {
		t.Errorf("error = %q; want %q", got, code)
	}
	if desc != "" {
		if got := m["error_description"]; got != desc {
			t.Errorf("error_description = %q; want %q", got, desc)
		}
	}
}
