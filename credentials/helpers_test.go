package credentials

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test keys are generated once per test binary; no key files are committed.
var testKeys = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func pkcs8PEM(t *testing.T) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(testKeys())
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func pkcs1PEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testKeys())}))
}

func ecPEM(t *testing.T, pkcs8 bool) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if pkcs8 {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

const (
	testEmail        = "robot@proj.iam.gserviceaccount.com"
	testKeyID        = "0123456789abcdef0123456789abcdef01234567"
	testClientID     = "764086051850-test.apps.googleusercontent.com"
	testClientSecret = "d-FL95Q19q7MQmFpd7hHD0Ty"
	testRefreshToken = "1//0gSECRETrefreshTOKEN"
)

// saFile returns a service-account key file as a map, to be changed per case.
func saFile(t *testing.T, tokenURI string) map[string]any {
	return map[string]any{
		"type":           "service_account",
		"project_id":     "proj",
		"private_key_id": testKeyID,
		"private_key":    pkcs8PEM(t),
		"client_email":   testEmail,
		"client_id":      "123456789012345678901",
		"token_uri":      tokenURI,
	}
}

func auFile(tokenURI string) map[string]any {
	m := map[string]any{
		"type":          "authorized_user",
		"client_id":     testClientID,
		"client_secret": testClientSecret,
		"refresh_token": testRefreshToken,
	}
	if tokenURI != "" {
		m["token_uri"] = tokenURI
	}
	return m
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFile writes data to name in a new temp dir and returns its path.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// env returns a Getenv over m, so tests never read the real environment.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// isolated returns Options that see an empty environment and an empty home.
func isolated(t *testing.T, vars map[string]string) *Options {
	home := t.TempDir()
	return &Options{Getenv: withAPPDATA(env(vars), home), HomeDir: home}
}

// withAPPDATA makes the tests' HomeDir hold gcloud's well-known file on
// Windows too, where gcloud keeps it under %APPDATA% instead: APPDATA, if
// getenv does not set it, is home/.config, which puts the file at the
// same path as on Unix. Elsewhere getenv is returned as it is.
func withAPPDATA(getenv func(string) string, home string) func(string) string {
	if runtime.GOOS != "windows" {
		return getenv
	}
	return func(k string) string {
		if v := getenv(k); v != "" || k != "APPDATA" {
			return v
		}
		return filepath.Join(home, ".config")
	}
}

// dialRefused is the error text of a TCP connection to addr refused, as
// this platform words it ("connect: connection refused" on Unix,
// "connectex: …" on Windows).
func dialRefused(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
		t.Fatalf("%s accepted a connection; want it refused", addr)
	}
	return err.Error()
}

// fakeJWT returns an unsigned-looking JWT with claims; the credentials
// package never verifies signatures.
func fakeJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"k1","typ":"JWT"}`))
	return h + "." + base64.RawURLEncoding.EncodeToString(mustJSON(t, claims)) + ".c2ln"
}

// decodeAssertion verifies a JWT-bearer assertion's RS256 signature with the
// test key and returns its header and claims.
func decodeAssertion(t *testing.T, jwt string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Errorf("assertion has %d parts; want 3", len(parts))
		return nil, nil
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Errorf("assertion signature: %v", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&testKeys().PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("assertion signature does not verify: %v", err)
	}
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Errorf("assertion part %d: %v", i, err)
			continue
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Errorf("assertion part %d: %v", i, err)
		}
	}
	return header, claims
}

// tokenServer is a fake OAuth token endpoint at /token. It asserts what every
// token request must look like, then lets respond check the form and answer.
type tokenServer struct {
	*httptest.Server
	calls atomic.Int32
}

func newTokenServer(t *testing.T, respond func(t *testing.T, form url.Values) (status int, body any)) *tokenServer {
	t.Helper()
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.calls.Add(1)
		if r.Method != http.MethodPost {
			t.Errorf("got method %q; want POST", r.Method)
		}
		if r.URL.Path != "/token" {
			t.Errorf("got path %q; want /token", r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("got Content-Type %q; want application/x-www-form-urlencoded", ct)
		}
		if err := r.ParseForm(); err != nil {
			t.Errorf("ParseForm: %v", err)
		}
		status, body := respond(t, r.PostForm)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) tokenURL() string { return ts.URL + "/token" }

// closedURL returns a URL on which nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	u := s.URL
	s.Close()
	return u + "/token"
}

func wantErrContains(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error; want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("got error %q; want it to contain %q", err, p)
		}
	}
}

// assertNoSecrets fails if s contains any test secret.
func assertNoSecrets(t *testing.T, what, s string) {
	t.Helper()
	der := x509.MarshalPKCS1PrivateKey(testKeys())
	keyChunk := base64.StdEncoding.EncodeToString(der)[8:40]
	for _, secret := range []string{testClientSecret, testRefreshToken, "-----END", keyChunk} {
		if strings.Contains(s, secret) {
			t.Errorf("%s %q contains secret material %q", what, s, secret)
		}
	}
}

var soon = time.Now().Add(time.Hour).Unix()

// mkdirAndMove moves file p to dir/name, creating dir.
func mkdirAndMove(p, dir, name string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.Rename(p, filepath.Join(dir, name))
}
