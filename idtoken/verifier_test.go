package idtoken_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/idtoken"
)

// tamper returns tok with one byte of segment seg (0..2) changed.
func tamper(tok string, seg int) string {
	parts := strings.Split(tok, ".")
	b, _ := b64.DecodeString(parts[seg])
	b[len(b)/2] ^= 0x01
	parts[seg] = b64.EncodeToString(b)
	return strings.Join(parts, ".")
}

// resign returns tok with its claims replaced and the original signature.
func swapClaims(t *testing.T, tok string, claims map[string]any) string {
	t.Helper()
	other := rs256(t, claims)
	p, q := strings.Split(tok, "."), strings.Split(other, ".")
	return p[0] + "." + q[1] + "." + p[2]
}

func withSig(tok string, sig []byte) string {
	return tok[:strings.LastIndexByte(tok, '.')+1] + b64.EncodeToString(sig)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: staticKeys(t), Now: func() time.Time { return testNow }})
	good := rs256(t, googleClaims())
	header := map[string]string{"alg": "RS256", "kid": rsaKid, "typ": "JWT"}
	hs := func(secret []byte) string {
		return signRaw(t, map[string]string{"alg": "HS256", "kid": rsaKid, "typ": "JWT"}, googleClaims(), secret)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	wrongKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sec := func(d time.Duration) int64 { return testNow.Add(d).Unix() }

	tests := []struct {
		name       string
		token      string
		wantReason string // "" means accepted
		wantMsg    string // substring of the message
	}{
		{"valid", good, "", ""},
		{"issuer without scheme", rs256(t, with(map[string]any{"iss": "accounts.google.com"})), "", ""},
		{"audience list", rs256(t, with(map[string]any{"aud": []string{"https://x", testAud}})), "", ""},
		{"expiry within skew", rs256(t, with(map[string]any{"exp": sec(-29 * time.Second)})), "", ""},
		{"iat within skew", rs256(t, with(map[string]any{"iat": sec(29 * time.Second)})), "", ""},
		{"fractional times", rs256(t, with(map[string]any{"iat": float64(sec(0)) + 0.5, "exp": float64(sec(time.Hour)) + 0.25})), "", ""},

		{"tampered signature", tamper(good, 2), idtoken.ReasonSignature, `signature does not verify with key "` + rsaKid + `"`},
		{"tampered claims", swapClaims(t, good, with(map[string]any{"email": "admin@example.com"})), idtoken.ReasonSignature, "signature does not verify"},
		{"tampered header (kid)", tamper(good, 0), idtoken.ReasonUnknownKey, ""},
		{"signed by another key", signRaw(t, header, googleClaims(), wrongKey), idtoken.ReasonSignature, "signature does not verify"},
		{"signature of the other published key", signRaw(t, header, googleClaims(), keys().other), idtoken.ReasonSignature, ""},
		{"empty signature", withSig(good, nil), idtoken.ReasonSignature, ""},

		{"alg none", signRaw(t, map[string]string{"alg": "none", "kid": rsaKid}, googleClaims(), nil), idtoken.ReasonAlgorithm, `algorithm "none" is not allowed (want RS256)`},
		{"alg none with a signature", withSig(signRaw(t, map[string]string{"alg": "none", "kid": rsaKid}, googleClaims(), nil), []byte("sig")), idtoken.ReasonAlgorithm, `"none"`},
		{"alg None", signRaw(t, map[string]string{"alg": "None", "kid": rsaKid}, googleClaims(), nil), idtoken.ReasonAlgorithm, ""},
		{"HS256", hs(secret), idtoken.ReasonAlgorithm, `algorithm "HS256" is not allowed`},
		{"HS256 keyed with the RSA public key", hs(rsaPublicDER()), idtoken.ReasonAlgorithm, `"HS256"`},
		{"ES256 not allowed by default", es256(t, googleClaims()), idtoken.ReasonAlgorithm, `"ES256"`},
		{"RS512 not allowed by default", signRaw(t, map[string]string{"alg": "RS512", "kid": rsaKid}, googleClaims(), keys().rsa), idtoken.ReasonAlgorithm, ""},

		{"wrong issuer", rs256(t, with(map[string]any{"iss": "https://evil.example"})), idtoken.ReasonIssuer,
			`issuer "https://evil.example" is not one of ["https://accounts.google.com" "accounts.google.com"]`},
		{"no issuer", rs256(t, with(map[string]any{"iss": nil})), idtoken.ReasonIssuer, "no issuer"},
		{"wrong audience", rs256(t, with(map[string]any{"aud": "https://other.example"})), idtoken.ReasonAudience,
			`audience "https://other.example" is not one of ["` + testAud + `"]`},
		{"wrong audiences", rs256(t, with(map[string]any{"aud": []string{"a", "b"}})), idtoken.ReasonAudience, `none of the audiences ["a" "b"]`},
		{"no audience", rs256(t, with(map[string]any{"aud": nil})), idtoken.ReasonAudience, "no audience"},
		{"audience prefix", rs256(t, with(map[string]any{"aud": testAud + "/extra"})), idtoken.ReasonAudience, ""},
		{"expired", rs256(t, with(map[string]any{"exp": sec(-31 * time.Second)})), idtoken.ReasonExpired, "expired at 2030-01-02T03:03:34Z, 31s ago"},
		{"expired long ago", rs256(t, with(map[string]any{"iat": sec(-48 * time.Hour), "exp": sec(-47 * time.Hour)})), idtoken.ReasonExpired, ""},
		{"iat in the future", rs256(t, with(map[string]any{"iat": sec(31 * time.Second)})), idtoken.ReasonNotYetValid, "issued at 2030-01-02T03:04:36Z, 31s in the future"},
		{"nbf in the future", rs256(t, with(map[string]any{"nbf": sec(10 * time.Minute)})), idtoken.ReasonNotYetValid, "not valid before"},

		{"no exp", rs256(t, with(map[string]any{"exp": nil})), idtoken.ReasonMalformed, "no exp"},
		{"no iat", rs256(t, with(map[string]any{"iat": nil})), idtoken.ReasonMalformed, "no iat"},
		{"exp is a string", rs256(t, with(map[string]any{"exp": "tomorrow"})), idtoken.ReasonMalformed, `claim "exp" is a string; want a number`},
		{"exp out of range", rs256(t, with(map[string]any{"exp": 1e300})), idtoken.ReasonMalformed, "out of range"},
		{"aud is a number", rs256(t, with(map[string]any{"aud": 7})), idtoken.ReasonMalformed, `claim "aud"`},
		{"email_verified is a number", rs256(t, with(map[string]any{"email_verified": 1})), idtoken.ReasonMalformed, "email_verified"},
		{"claims are a list", signRaw(t, header, []int{1}, keys().rsa), idtoken.ReasonMalformed, "not a JSON object"},

		{"unknown kid", signRaw(t, map[string]string{"alg": "RS256", "kid": "nope"}, googleClaims(), keys().rsa), idtoken.ReasonUnknownKey, `signing key "nope" is not in the static key set`},
		{"no kid", signRaw(t, map[string]string{"alg": "RS256"}, googleClaims(), keys().rsa), idtoken.ReasonMalformed, "no kid"},
		{"RS256 naming the EC key", signRaw(t, map[string]string{"alg": "RS256", "kid": ecKid}, googleClaims(), keys().rsa), idtoken.ReasonAlgorithm, "it is an ECDSA P-256 key"},
		{"crit header", signRaw(t, map[string]any{"alg": "RS256", "kid": rsaKid, "crit": []string{"exp"}, "exp": 1}, googleClaims(), keys().rsa), idtoken.ReasonMalformed, `"crit"`},
		{"b64 header", signRaw(t, map[string]any{"alg": "RS256", "kid": rsaKid, "b64": false}, googleClaims(), keys().rsa), idtoken.ReasonMalformed, `"b64"`},
		{"header not JSON", b64.EncodeToString([]byte("nope")) + good[strings.IndexByte(good, '.'):], idtoken.ReasonMalformed, "header is not a JSON object"},

		{"empty", "", idtoken.ReasonMalformed, "empty"},
		{"access token", "ya29.a0AfB_byC-not-a-jwt", idtoken.ReasonMalformed, "2 dot-separated segments, want 3"},
		{"four segments", good + ".x", idtoken.ReasonMalformed, "4 dot-separated segments"},
		{"bearer prefix", "Bearer " + good, idtoken.ReasonMalformed, "outside base64url"},
		{"newline inside", good[:10] + "\n" + good[10:], idtoken.ReasonMalformed, "outside base64url"},
		{"padding", good + "==", idtoken.ReasonMalformed, "outside base64url"},
		{"non-canonical base64", nonCanonical(good), idtoken.ReasonMalformed, "not canonical"},
		{"empty claims", good[:strings.IndexByte(good, '.')] + ".." + good[strings.LastIndexByte(good, '.')+1:], idtoken.ReasonMalformed, "segment 2 is empty"},
		{"huge", rs256(t, with(map[string]any{"pad": strings.Repeat("x", idtoken.MaxTokenSize)})), idtoken.ReasonMalformed, "the limit is 16384"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := v.Verify(t.Context(), tt.token)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Verify: %v; want success", err)
				}
				if c.Subject != "112233445566778899001" || !c.HasAudience(testAud) {
					t.Errorf("claims = %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token; want reason %q", tt.wantReason)
			}
			var ve *idtoken.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is %T; want *idtoken.VerifyError", err, err)
			}
			if ve.Reason != tt.wantReason {
				t.Errorf("Reason = %q; want %q (message %q)", ve.Reason, tt.wantReason, ve.Message)
			}
			if got := idtoken.ReasonOf(err); got != ve.Reason {
				t.Errorf("ReasonOf = %q; want %q", got, ve.Reason)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("message = %q; want it to contain %q", err.Error(), tt.wantMsg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("message %q spans lines", err.Error())
			}
			if len(tt.token) > 40 {
				sig := tt.token[strings.LastIndexByte(tt.token, '.')+1:]
				if strings.Contains(err.Error(), tt.token) || (len(sig) > 20 && strings.Contains(err.Error(), sig)) {
					t.Errorf("message %q contains the token", err.Error())
				}
			}
			claimReason := map[string]bool{idtoken.ReasonIssuer: true, idtoken.ReasonAudience: true, idtoken.ReasonExpired: true, idtoken.ReasonNotYetValid: true}
			if got := ve.Claims != nil; got != claimReason[ve.Reason] {
				t.Errorf("VerifyError.Claims set = %v; want %v for reason %s", got, claimReason[ve.Reason], ve.Reason)
			}
		})
	}
}

// nonCanonical sets the unused low bits of the signature's last base64
// character: Go's decoder ignores them, so the bytes are the same.
func nonCanonical(tok string) string {
	last := tok[len(tok)-1]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, last)
	return tok[:len(tok)-1] + string(alphabet[i|1])
}

func TestVerifyClaims(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, &idtoken.Options{Audiences: []string{"other", testAud}, KeySet: staticKeys(t), Now: func() time.Time { return testNow }})
	c, err := v.Verify(t.Context(), rs256(t, with(map[string]any{
		"google": map[string]any{"compute_engine": map[string]any{"project_number": 716149158341, "zone": "us-central1-a"}},
		"nbf":    testNow.Add(-time.Minute).Unix(),
	})))
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != testIssuer || c.Email != testEmail || !c.EmailVerified || c.AuthorizedParty != testEmail ||
		len(c.Audience) != 1 || c.Audience[0] != testAud || c.Principal() != testEmail {
		t.Errorf("claims = %+v", c)
	}
	if !c.IssuedAt.Equal(testNow) || !c.Expiry.Equal(testNow.Add(time.Hour)) || !c.NotBefore.Equal(testNow.Add(-time.Minute)) {
		t.Errorf("times = iat %v exp %v nbf %v", c.IssuedAt, c.Expiry, c.NotBefore)
	}
	ce := c.Raw["google"].(map[string]any)["compute_engine"].(map[string]any)
	if ce["project_number"] != float64(716149158341) || ce["zone"] != "us-central1-a" {
		t.Errorf("Raw google.compute_engine = %v", ce)
	}

	// email_verified as a string, no email: Principal is the subject.
	c, err = v.Verify(t.Context(), rs256(t, with(map[string]any{"email": nil, "email_verified": "true"})))
	if err != nil {
		t.Fatal(err)
	}
	if !c.EmailVerified || c.Principal() != c.Subject {
		t.Errorf("EmailVerified = %v, Principal = %q; want true and the subject", c.EmailVerified, c.Principal())
	}
}

func TestVerifyOptions(t *testing.T) {
	t.Parallel()
	ks := staticKeys(t)
	now := func() time.Time { return testNow }
	expired := rs256(t, with(map[string]any{"iat": testNow.Add(-2 * time.Hour).Unix(), "exp": testNow.Add(-time.Hour).Unix()}))
	atExpiry := rs256(t, with(map[string]any{"iat": testNow.Add(-time.Hour).Unix(), "exp": testNow.Unix()}))
	other := rs256(t, with(map[string]any{"aud": "https://other.example", "iss": "https://issuer.example"}))

	tests := []struct {
		name       string
		opts       idtoken.Options
		token      string
		wantReason string
	}{
		{"skip expiry", idtoken.Options{Audiences: []string{testAud}, SkipExpiryCheck: true}, expired, ""},
		{"skip audience", idtoken.Options{SkipAudienceCheck: true, Issuers: []string{"https://issuer.example"}}, other, ""},
		{"custom issuer", idtoken.Options{Audiences: []string{"https://other.example"}, Issuers: []string{"https://issuer.example"}}, other, ""},
		{"custom issuer excludes Google", idtoken.Options{Audiences: []string{testAud}, Issuers: []string{"https://issuer.example"}}, rs256(t, googleClaims()), idtoken.ReasonIssuer},
		{"default skew accepts at exp", idtoken.Options{Audiences: []string{testAud}}, atExpiry, ""},
		{"no skew rejects at exp", idtoken.Options{Audiences: []string{testAud}, ClockSkew: -1}, atExpiry, idtoken.ReasonExpired},
		{"large skew", idtoken.Options{Audiences: []string{testAud}, ClockSkew: 2 * time.Hour}, expired, ""},
		{"RS512 when allowed", idtoken.Options{Audiences: []string{testAud}, Algorithms: []string{"RS256", "RS512"}},
			signRaw(t, map[string]string{"alg": "RS512", "kid": rsaKid}, googleClaims(), keys().rsa), idtoken.ReasonSignature}, // signRaw signs SHA-256: the RS512 check must fail
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := tt.opts
			o.KeySet, o.Now = ks, now
			_, err := newVerifier(t, &o).Verify(t.Context(), tt.token)
			if got := idtoken.ReasonOf(err); got != tt.wantReason || (tt.wantReason == "" && err != nil) {
				t.Errorf("Verify: reason %q (%v); want %q", got, err, tt.wantReason)
			}
		})
	}
}

func TestNewVerifierValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts *idtoken.Options
		want string
	}{
		{"nil", nil, "Audiences is required"},
		{"no audience", &idtoken.Options{}, "Audiences is required"},
		{"empty audience", &idtoken.Options{Audiences: []string{""}}, "empty audience"},
		{"audience and skip", &idtoken.Options{Audiences: []string{"a"}, SkipAudienceCheck: true}, "mutually exclusive"},
		{"HS256", &idtoken.Options{Audiences: []string{"a"}, Algorithms: []string{"HS256"}}, `algorithm "HS256" is not supported`},
		{"none", &idtoken.Options{Audiences: []string{"a"}, Algorithms: []string{"none"}}, `algorithm "none" is not supported`},
		{"empty issuer", &idtoken.Options{Audiences: []string{"a"}, Issuers: []string{""}}, "empty issuer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := idtoken.NewVerifier(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewVerifier error = %v; want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestIAP checks the ES256 path with a P-256 key served as a JWKS, as IAP
// publishes it.
func TestIAP(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, ecJWK(ecKid, &keys().ec.PublicKey))
	ks, err := idtoken.NewKeySet(&idtoken.KeySetOptions{URL: srv.URL, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	const iapAud = "/projects/123456789/global/backendServices/987654321"
	v, err := idtoken.NewIAPVerifier(&idtoken.Options{Audiences: []string{iapAud}, KeySet: ks, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	iap := func(changes map[string]any) map[string]any {
		c := with(map[string]any{"iss": idtoken.IAPIssuer, "aud": iapAud, "hd": "example.com"})
		for k, x := range changes {
			c[k] = x
		}
		return c
	}
	good := es256(t, iap(nil))
	sig, _ := b64.DecodeString(good[strings.LastIndexByte(good, '.')+1:])

	tests := []struct {
		name       string
		token      string
		wantReason string
		wantMsg    string
	}{
		{"valid", good, "", ""},
		{"short signature", withSig(good, sig[:10]), idtoken.ReasonSignature, "ECDSA signature is 10 bytes; want 64"},
		{"31-byte signature", withSig(good, sig[:31]), idtoken.ReasonSignature, "31 bytes"},
		{"63-byte signature", withSig(good, sig[:63]), idtoken.ReasonSignature, "63 bytes"},
		{"65-byte signature", withSig(good, append(sig[:64:64], 0)), idtoken.ReasonSignature, "65 bytes"},
		{"empty signature", withSig(good, nil), idtoken.ReasonSignature, "0 bytes"},
		{"tampered", tamper(good, 2), idtoken.ReasonSignature, `signature does not verify with key "` + ecKid + `"`},
		{"google issuer", es256(t, iap(map[string]any{"iss": testIssuer})), idtoken.ReasonIssuer, `issuer "https://accounts.google.com" is not one of ["https://cloud.google.com/iap"]`},
		{"wrong audience", es256(t, iap(map[string]any{"aud": "/projects/1/apps/x"})), idtoken.ReasonAudience, ""},
		{"RS256 token", rs256(t, iap(nil)), idtoken.ReasonAlgorithm, `algorithm "RS256" is not allowed (want ES256)`},
		{"expired", es256(t, iap(map[string]any{"exp": testNow.Add(-time.Minute).Unix()})), idtoken.ReasonExpired, ""},
	}
	t.Cleanup(func() {
		if n := srv.requests.Load(); n != 1 {
			t.Errorf("JWKS fetched %d times; want 1", n)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := v.Verify(t.Context(), tt.token)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Issuer != idtoken.IAPIssuer || c.Raw["hd"] != "example.com" {
					t.Errorf("claims = %+v", c)
				}
				return
			}
			if got := idtoken.ReasonOf(err); got != tt.wantReason {
				t.Fatalf("reason = %q (%v); want %q", got, err, tt.wantReason)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("message = %q; want it to contain %q", err.Error(), tt.wantMsg)
			}
		})
	}
}

func TestVerifyContextCanceled(t *testing.T) {
	t.Parallel()
	srv := googleJWKS(t)
	srv.mu.Lock()
	srv.delay = make(chan struct{})
	srv.mu.Unlock()
	defer close(srv.delay)
	ks, _ := idtoken.NewKeySet(&idtoken.KeySetOptions{URL: srv.URL})
	v := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: ks, Now: func() time.Time { return testNow }})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := v.Verify(ctx, rs256(t, googleClaims()))
	if idtoken.ReasonOf(err) != idtoken.ReasonKeySet || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Verify = %v; want a keyset error wrapping context.DeadlineExceeded", err)
	}
}
