package idtoken_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	googleidtoken "cloud.google.com/go/auth/credentials/idtoken"

	"github.com/gcptoken/gcptoken/idtoken"
)

// BenchmarkVerify compares a warm gcptoken Verifier with the cost of the
// RSA signature check alone (the floor: hash the signing input, verify the
// signature) and with Google's own validator, warm. All three check the
// same RS256 token, with the real clock, keys from an httptest JWKS.
func BenchmarkVerify(b *testing.B) {
	now := time.Now()
	claims := googleClaims()
	claims["iat"], claims["exp"] = now.Unix(), now.Add(time.Hour).Unix()
	tok := rs256(b, claims)
	srv := googleJWKS(b)
	ctx := context.Background()

	b.Run("gcptoken", func(b *testing.B) {
		ks, err := idtoken.NewKeySet(&idtoken.KeySetOptions{URL: srv.URL})
		if err != nil {
			b.Fatal(err)
		}
		v := newVerifier(b, &idtoken.Options{Audiences: []string{testAud}, KeySet: ks})
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("rsa.VerifyPKCS1v15 (floor)", func(b *testing.B) {
		i := strings.LastIndexByte(tok, '.')
		input := tok[:i]
		sig, err := b64.DecodeString(tok[i+1:])
		if err != nil {
			b.Fatal(err)
		}
		pub := &keys().rsa.PublicKey
		b.ReportAllocs()
		for b.Loop() {
			sum := sha256.Sum256([]byte(input))
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("cloud.google.com/go/auth idtoken.Validator (warm)", func(b *testing.B) {
		val, err := googleidtoken.NewValidator(&googleidtoken.ValidatorOptions{RS256CertsURL: srv.URL, Client: srv.Client()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := val.Validate(ctx, tok, testAud); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := val.Validate(ctx, tok, testAud); err != nil {
				b.Fatal(err)
			}
		}
	})
}
