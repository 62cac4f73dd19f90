package idtoken_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/idtoken"
)

// The helpers sign tokens by hand with the standard library, not go-jose,
// so a bug in the verifier's JOSE library cannot hide on both sides.

const (
	testAud    = "https://service-abc.a.run.app"
	testEmail  = "caller@project.iam.gserviceaccount.com"
	rsaKid     = "0123456789abcdef0123456789abcdef01234567"
	otherKid   = "fedcba9876543210fedcba9876543210fedcba98"
	ecKid      = "iap-key-1"
	testIssuer = "https://accounts.google.com"
)

// testNow is the fixed clock of most tests.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

type testKeys struct {
	rsa   *rsa.PrivateKey
	other *rsa.PrivateKey // published too, never signs the test tokens
	ec    *ecdsa.PrivateKey
}

var keys = sync.OnceValue(func() testKeys {
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return testKeys{rsa: k1, other: k2, ec: ec}
})

var b64 = base64.RawURLEncoding

// googleClaims are the claims of a service-account ID token issued at
// testNow for testAud.
func googleClaims() map[string]any {
	return map[string]any{
		"iss": testIssuer, "sub": "112233445566778899001", "aud": testAud,
		"azp": testEmail, "email": testEmail, "email_verified": true,
		"iat": testNow.Unix(), "exp": testNow.Add(time.Hour).Unix(),
	}
}

// signRaw builds a compact JWS from an exact header and claims; key picks
// the signature: *rsa.PrivateKey (RS256), *ecdsa.PrivateKey (ES256, r||s),
// []byte (HS256), nil (no signature).
func signRaw(t testing.TB, header, claims any, key any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b64.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	sum := sha256.Sum256([]byte(input))
	var sig []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:]); err != nil {
			t.Fatal(err)
		}
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case nil:
	default:
		t.Fatalf("signRaw: key type %T", key)
	}
	return input + "." + b64.EncodeToString(sig)
}

// rs256 signs claims like Google: {"alg":"RS256","kid":…,"typ":"JWT"}.
func rs256(t testing.TB, claims map[string]any) string {
	t.Helper()
	return signRaw(t, map[string]string{"alg": "RS256", "kid": rsaKid, "typ": "JWT"}, claims, keys().rsa)
}

// es256 signs claims like IAP.
func es256(t testing.TB, claims map[string]any) string {
	t.Helper()
	return signRaw(t, map[string]string{"alg": "ES256", "kid": ecKid, "typ": "JWT"}, claims, keys().ec)
}

// with returns googleClaims with changes; a nil value deletes the claim.
func with(changes map[string]any) map[string]any {
	c := googleClaims()
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func rsaJWK(kid string, pub *rsa.PublicKey) map[string]string {
	return map[string]string{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
		"n": b64.EncodeToString(pub.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}
}

func ecJWK(kid string, pub *ecdsa.PublicKey) map[string]string {
	ecdh, err := pub.ECDH()
	if err != nil {
		panic(err)
	}
	raw := ecdh.Bytes() // 0x04 || X || Y
	return map[string]string{"kty": "EC", "alg": "ES256", "use": "sig", "kid": kid, "crv": "P-256",
		"x": b64.EncodeToString(raw[1:33]), "y": b64.EncodeToString(raw[33:])}
}

// jwksServer serves a JWKS and counts requests. Its answer can be changed
// while it runs.
type jwksServer struct {
	*httptest.Server
	requests atomic.Int64

	mu      sync.Mutex
	status  int
	body    []byte
	headers http.Header
	delay   chan struct{} // when non-nil, requests wait for it to close
}

func newJWKSServer(t testing.TB, keys ...map[string]string) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(http.StatusOK, jwksBody(keys...), http.Header{"Cache-Control": {"public, max-age=21600, must-revalidate, no-transform"}})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		status, body, headers, delay := s.status, s.body, s.headers, s.delay
		s.mu.Unlock()
		if delay != nil {
			<-delay
		}
		for k, v := range headers {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func jwksBody(keys ...map[string]string) []byte {
	if keys == nil {
		keys = []map[string]string{}
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

func (s *jwksServer) set(status int, body []byte, headers http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body, s.headers = status, body, headers
}

// googleJWKS serves the two RSA test keys.
func googleJWKS(t testing.TB) *jwksServer {
	return newJWKSServer(t, rsaJWK(rsaKid, &keys().rsa.PublicKey), rsaJWK(otherKid, &keys().other.PublicKey))
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: testNow} }

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

// staticKeys is a static key set with the RSA and EC test keys.
func staticKeys(t testing.TB) *idtoken.KeySet {
	t.Helper()
	ks, err := idtoken.NewStaticKeySet(map[string]crypto.PublicKey{
		rsaKid: &keys().rsa.PublicKey, otherKid: &keys().other.PublicKey, ecKid: &keys().ec.PublicKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func newVerifier(t testing.TB, opts *idtoken.Options) *idtoken.Verifier {
	t.Helper()
	v, err := idtoken.NewVerifier(opts)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// rsaPublicDER is the RSA test key's public key as PKIX DER, the bytes an
// algorithm-confusion attacker would use as an HMAC secret.
func rsaPublicDER() []byte {
	der, err := x509.MarshalPKIXPublicKey(&keys().rsa.PublicKey)
	if err != nil {
		panic(err)
	}
	return der
}
