package credsfile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestParseRecognizesWrongFiles: files people pass for a credentials file
// by mistake are named for what they are, with what to do, and nothing of
// their content is quoted.
func TestParseRecognizesWrongFiles(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(label string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: label, Bytes: b}) }
	// A PFX's first bytes: SEQUENCE (long form length), INTEGER 3.
	p12 := append([]byte{0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x03, 0x30, 0x82}, make([]byte, 64)...)
	tests := []struct {
		name string
		data []byte
		want []string
	}{
		{"PKCS #8 private key", pemOf("PRIVATE KEY", der), []string{"PEM private key", "keys create"}},
		{"RSA private key", pemOf("RSA PRIVATE KEY", []byte("x")), []string{"PEM private key (RSA PRIVATE KEY)", "private_key field"}},
		{"certificate", pemOf("CERTIFICATE", cert), []string{"PEM certificate", "no secret", "--credential-cert-path"}},
		{"public key", pemOf("PUBLIC KEY", pub), []string{"PEM public key"}},
		{"other PEM", pemOf("CERTIFICATE REQUEST", []byte("x")), []string{"PEM file (CERTIFICATE REQUEST)"}},
		{"JWT", []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\n"), []string{"is a JWT", "gcptoken info", "create-cred-config"}},
		{"access token", []byte("ya29.a0AfH6SMB-secret-part\n"), []string{"OAuth access token", "Authorization: Bearer"}},
		{"PKCS #12", p12, []string{"PKCS #12", "JSON key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.data)
			if err == nil {
				t.Fatalf("Parse accepted a %s", tt.name)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q; want it to contain %q", err, w)
				}
			}
			for _, secret := range []string{"secret-part", "MIG", "c2ln"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q quotes the file's content", err)
				}
			}
		})
	}
}

// TestParseRecognizeLeavesJSONAlone: JSON files are parsed as before,
// also ones whose values look like the files above.
func TestParseRecognizeLeavesJSONAlone(t *testing.T) {
	t.Parallel()
	f, err := Parse([]byte(`{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"}`))
	if err != nil || f.Type != TypeServiceAccount {
		t.Fatalf("Parse = %+v, %v; want a service_account file", f, err)
	}
}
