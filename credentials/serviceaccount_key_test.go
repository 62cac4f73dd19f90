package credentials

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCheckRSAKeyAgreesWithParse: the cheap check at load refuses exactly
// what the full parse refuses, with the same words, and passes the two
// well-formed RSA encodings on their structure alone.
func TestCheckRSAKeyAgreesWithParse(t *testing.T) {
	t.Parallel()
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edDER, err := x509.MarshalPKCS8PrivateKey(edKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := pkcs8PEM(t)
	pkcs8DER := pemBytes(t, pkcs8)
	pkcs1DER := x509.MarshalPKCS1PrivateKey(testKeys())
	withHeaders := &pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"}, Bytes: pkcs1DER}
	tests := []struct {
		name       string
		pem        string
		wellFormed bool
	}{
		{"PKCS#8 RSA", pkcs8, true},
		{"PKCS#1 RSA", pkcs1PEM(), true},
		{"not PEM", "hello", false},
		{"corrupt", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", false},
		{"truncated DER", pemOf("PRIVATE KEY", []byte{0x30, 0x82, 0x01, 0x55, 0x02, 0x01, 0x00}), false},
		{"trailing data", pemOf("PRIVATE KEY", append(append([]byte{}, pkcs8DER...), 0x05, 0x00)), false},
		{"PKCS#1 in a PRIVATE KEY block", pemOf("PRIVATE KEY", pkcs1DER), false},
		{"PKCS#8 in an RSA PRIVATE KEY block", pemOf("RSA PRIVATE KEY", pkcs8DER), false},
		{"EC SEC1", ecPEM(t, false), false},
		{"EC PKCS#8", ecPEM(t, true), false},
		{"Ed25519 PKCS#8", pemOf("PRIVATE KEY", edDER), false},
		{"encrypted", string(pem.EncodeToMemory(withHeaders)), false},
		{"certificate", pemOf("CERTIFICATE", pkcs1DER), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			block, _ := pem.Decode([]byte(tt.pem))
			if got := block != nil && wellFormedRSAKey(block); got != tt.wellFormed {
				t.Errorf("wellFormedRSAKey = %v; want %v", got, tt.wellFormed)
			}
			_, parseErr := parseRSAKey([]byte(tt.pem))
			checkErr := checkRSAKey([]byte(tt.pem))
			if errString(checkErr) != errString(parseErr) {
				t.Errorf("checkRSAKey = %v; want parseRSAKey's %v", checkErr, parseErr)
			}
			if tt.wellFormed && checkErr != nil {
				t.Errorf("checkRSAKey = %v; want nil", checkErr)
			}
		})
	}
}

// TestServiceAccountKeyParsedAtFirstSignature: a key whose structure is
// right but whose numbers are not (the modulus is not the product of the
// primes) loads, because the full parse waits for the first token that
// must be signed; that token then fails, naming private_key, before any
// request.
func TestServiceAccountKeyParsedAtFirstSignature(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("token endpoint called with a key that cannot sign")
		http.Error(w, "no", http.StatusBadRequest)
	}))
	defer srv.Close()
	k := *testKeys()
	k.N = new(big.Int).Add(k.N, big.NewInt(2))
	sa := saFile(t, srv.URL)
	sa["private_key"] = pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(&k))
	creds, err := FromJSON(mustJSON(t, sa), isolated(t, nil))
	if err != nil {
		t.Fatalf("FromJSON: %v; want the key's structure to pass at load", err)
	}
	p, err := creds.AccessTokenSource([]string{"https://www.googleapis.com/auth/cloud-platform"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "private_key: cannot parse the RSA PRIVATE KEY block") {
		t.Errorf("Token error = %v; want private_key: cannot parse the RSA PRIVATE KEY block", err)
	}
}

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func pemBytes(t *testing.T, s string) []byte {
	t.Helper()
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		t.Fatal("not PEM")
	}
	return block.Bytes
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
