package idtoken_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/idtoken"
)

// FuzzVerify feeds arbitrary strings to Verify. It must never panic, and a
// token it accepts must pass an independent re-check written with the
// standard library only: strict base64url, an allowed alg that fits the
// key, a valid signature over the exact bytes received, and every claim.
//
//	go test ./idtoken -run '^$' -fuzz FuzzVerify -fuzztime 200000x
func FuzzVerify(f *testing.F) {
	auds := []string{testAud}
	issuers := []string{testIssuer, "accounts.google.com", idtoken.IAPIssuer}
	skew := idtoken.DefaultClockSkew
	v := newVerifier(f, &idtoken.Options{
		Audiences: auds, Issuers: issuers, Algorithms: []string{"RS256", "ES256"},
		KeySet: staticKeys(f), Now: func() time.Time { return testNow },
	})

	good := rs256(f, googleClaims())
	iap := es256(f, with(map[string]any{"iss": idtoken.IAPIssuer}))
	sig, _ := b64.DecodeString(iap[strings.LastIndexByte(iap, '.')+1:])
	for _, s := range []string{
		good, iap,
		tamper(good, 1), tamper(good, 2), tamper(iap, 2),
		withSig(iap, sig[:31]), withSig(iap, sig[:1]), withSig(iap, nil),
		signRaw(f, map[string]string{"alg": "none", "kid": rsaKid}, googleClaims(), nil),
		signRaw(f, map[string]string{"alg": "HS256", "kid": rsaKid}, googleClaims(), rsaPublicDER()),
		signRaw(f, map[string]string{"alg": "ES256", "kid": rsaKid}, googleClaims(), keys().ec),
		signRaw(f, map[string]string{"alg": "RS256", "kid": ecKid}, googleClaims(), keys().rsa),
		rs256(f, with(map[string]any{"exp": "x", "aud": []any{1, "a"}})),
		rs256(f, with(map[string]any{"aud": []string{"x", testAud}, "exp": 1e300})),
		"", ".", "..", "a.b.c", "eyJ.eyJ.", "ya29.a0AfB_byC", good + ".", "\x00.\x00.\x00",
	} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(t.Context(), token)
		if err != nil {
			if idtoken.ReasonOf(err) == "" {
				t.Fatalf("error %v is not a *VerifyError", err)
			}
			if len(token) > 64 && strings.Contains(err.Error(), token) {
				t.Fatalf("error message contains the token")
			}
			return
		}
		if c == nil {
			t.Fatal("Verify returned nil claims and nil error")
		}
		if reason := recheck(token, auds, issuers, skew); reason != "" {
			t.Fatalf("Verify accepted a token the re-check rejects: %s\ntoken %q", reason, token)
		}
	})
}

// recheck is an independent verifier for accepted tokens; it returns why
// token is bad, or "".
func recheck(token string, auds, issuers []string, skew time.Duration) string {
	if len(token) > idtoken.MaxTokenSize {
		return "too long"
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "not three segments"
	}
	strict := base64.RawURLEncoding.Strict()
	var dec [3][]byte
	for i, p := range parts {
		b, err := strict.DecodeString(p)
		if err != nil || strict.EncodeToString(b) != p {
			return "segment not canonical base64url"
		}
		dec[i] = b
	}
	var h struct{ Alg, Kid string }
	if json.Unmarshal(dec[0], &h) != nil {
		return "header"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch {
	case h.Alg == "RS256" && (h.Kid == rsaKid || h.Kid == otherKid):
		pub := &keys().rsa.PublicKey
		if h.Kid == otherKid {
			pub = &keys().other.PublicKey
		}
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], dec[2]) != nil {
			return "RSA signature"
		}
	case h.Alg == "ES256" && h.Kid == ecKid:
		if len(dec[2]) != 64 || !ecdsa.Verify(&keys().ec.PublicKey, sum[:], new(big.Int).SetBytes(dec[2][:32]), new(big.Int).SetBytes(dec[2][32:])) {
			return "ECDSA signature"
		}
	default:
		return "alg/kid " + h.Alg + "/" + h.Kid
	}
	var c struct {
		Iss string
		Aud any
		Exp *float64
		Iat *float64
		Nbf *float64
	}
	if json.Unmarshal(dec[1], &c) != nil {
		return "claims"
	}
	if !slices.Contains(issuers, c.Iss) {
		return "issuer"
	}
	var tokAuds []string
	switch a := c.Aud.(type) {
	case string:
		tokAuds = []string{a}
	case []any:
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return "aud element"
			}
			tokAuds = append(tokAuds, s)
		}
	default:
		return "aud type"
	}
	if !slices.ContainsFunc(tokAuds, func(a string) bool { return slices.Contains(auds, a) }) {
		return "audience"
	}
	now := float64(testNow.Unix())
	if c.Exp == nil || *c.Exp+skew.Seconds() <= now {
		return "expired"
	}
	if c.Iat == nil || *c.Iat > now+skew.Seconds() {
		return "iat"
	}
	if c.Nbf != nil && *c.Nbf > now+skew.Seconds() {
		return "nbf"
	}
	return ""
}
