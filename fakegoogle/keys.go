package fakegoogle

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// rsaKey is an RSA key pair with a Google-style key id. Generation runs in
// the background because a 2048-bit key takes tens to hundreds of
// milliseconds and New generates three; callers block in private() only when
// they actually need the key.
type rsaKey struct {
	kid   string
	ready chan struct{} // closed once priv or err is set
	priv  *rsa.PrivateKey
	err   error

	certOnce sync.Once
	certPEM  string
	certErr  error
}

// generateKey starts generating a key of the given size and returns at once.
func generateKey(bits int) *rsaKey {
	k := &rsaKey{kid: newKeyID(), ready: make(chan struct{})}
	go func() {
		defer close(k.ready)
		k.priv, k.err = rsa.GenerateKey(rand.Reader, bits)
		if k.err != nil {
			k.err = fmt.Errorf("fakegoogle: generate %d-bit RSA key: %w", bits, k.err)
		}
	}()
	return k
}

// existingKey wraps a key loaded from state.
func existingKey(kid string, priv *rsa.PrivateKey) *rsaKey {
	k := &rsaKey{kid: kid, ready: make(chan struct{}), priv: priv}
	close(k.ready)
	return k
}

// private waits for the key and returns it.
func (k *rsaKey) private() (*rsa.PrivateKey, error) {
	<-k.ready
	return k.priv, k.err
}

// certificate returns a self-signed X.509 certificate for the key in PEM
// form. Google publishes certificates, not bare keys, at /oauth2/v1/certs and
// /robot/v1/metadata/x509, and Python and Node load them as certificates. It
// is made once per key so every response shows the same bytes.
func (k *rsaKey) certificate(commonName string, now time.Time) (string, error) {
	k.certOnce.Do(func() {
		priv, err := k.private()
		if err != nil {
			k.certErr = err
			return
		}
		serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
		if err != nil {
			k.certErr = fmt.Errorf("fakegoogle: certificate serial: %w", err)
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial,
			Subject:      pkix.Name{CommonName: commonName},
			// A wide window: clients do not check it, and an injected clock may
			// be far from the real one.
			NotBefore:             now.Add(-24 * time.Hour),
			NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
		if err != nil {
			k.certErr = fmt.Errorf("fakegoogle: create certificate for key %s: %w", k.kid, err)
			return
		}
		k.certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	})
	return k.certPEM, k.certErr
}

// privatePEM returns the private key as PKCS#8 PEM ("BEGIN PRIVATE KEY"), the
// form found in real service-account key files.
func (k *rsaKey) privatePEM() (string, error) {
	priv, err := k.private()
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("fakegoogle: encode key %s: %w", k.kid, err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// parsePrivatePEM accepts PKCS#8 and PKCS#1 RSA keys.
func parsePrivatePEM(s string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, fmt.Errorf("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, not RSA", k)
	}
	return rk, nil
}

// newKeyID returns 40 lowercase hex characters, the shape of Google's key
// ids (private_key_id and JWT kid).
func newKeyID() string {
	b := make([]byte, 20)
	rand.Read(b) // never fails: crypto/rand panics instead of returning errors
	return hex.EncodeToString(b)
}

// newNumericID returns a 21-digit id like Google's service-account unique ids
// and user subjects, which start with 1.
func newNumericID() string {
	b := make([]byte, 21)
	rand.Read(b)
	b[0] = '1'
	for i := 1; i < len(b); i++ {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

// randomToken returns n random bytes as unpadded base64url, for token values.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return b64.EncodeToString(b)
}
