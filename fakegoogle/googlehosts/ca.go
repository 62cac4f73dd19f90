package googlehosts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/gcptoken/gcptoken/internal/fileutil"
)

// File names of the CA in its directory.
const (
	CACertFile = "ca.pem"     // the certificate; give it to clients
	CAKeyFile  = "ca-key.pem" // the private key; mode 0600, never shared
)

// Validity periods. Leaves are short-lived and reissued before they expire,
// so a long-running emulator never serves an expired one.
const (
	caValidity    = 5 * 365 * 24 * time.Hour
	leafValidity  = 7 * 24 * time.Hour
	leafRenewal   = 24 * time.Hour // reissue a leaf this long before expiry
	clockBackdate = time.Hour      // tolerate clients whose clock runs behind
)

// CA is a local certificate authority that issues TLS leaf certificates for
// the emulated hosts. It is safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
	now     func() time.Time

	leafKey *ecdsa.PrivateKey // one key for every leaf: leaves differ only in names

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// NewCA creates a CA in memory that may certify hosts only (its name
// constraints), by default Hosts(): pass HostsIn(universe) for another
// universe. now is the clock for validity periods (nil: time.Now).
func NewCA(now func() time.Time, hosts ...string) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	if len(hosts) == 0 {
		hosts = Hosts()
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("googlehosts: generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	start := now().Add(-clockBackdate)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "gcptoken fake Google local CA", Organization: []string{"gcptoken emulator (testing only)"}},
		NotBefore:             start,
		NotAfter:              start.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// The CA can only ever vouch for the hosts it emulates: trusting it
		// does not let a stolen key impersonate any other site.
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         slices.Clone(hosts),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("googlehosts: create CA certificate: %w", err)
	}
	return newCA(der, key, now)
}

func newCA(der []byte, key *ecdsa.PrivateKey, now func() time.Time) (*CA, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("googlehosts: parse CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("googlehosts: the CA certificate is not a CA (basicConstraints CA:FALSE)")
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("googlehosts: the CA key does not match the CA certificate")
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("googlehosts: generate leaf key: %w", err)
	}
	return &CA{
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:     key,
		now:     now,
		leafKey: leafKey,
		leaves:  map[string]*tls.Certificate{},
	}, nil
}

// LoadOrCreateCA loads the CA from dir (CACertFile, CAKeyFile), or creates
// one there if neither file exists, for hosts (default Hosts(); pass
// HostsIn(universe) for another universe). A CA whose name constraints miss
// one of hosts is replaced by one that permits its old names and hosts, so
// that emulators of two universes can share a directory. dir is created
// with mode 0700 if needed; the key is written 0600 and refused on load if
// other users can read it.
func LoadOrCreateCA(dir string, now func() time.Time, hosts ...string) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	if len(hosts) == 0 {
		hosts = Hosts()
	}
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case errors.Is(certErr, os.ErrNotExist) && errors.Is(keyErr, os.ErrNotExist):
		return createCA(dir, certPath, keyPath, now, hosts)
	case certErr != nil:
		return nil, fmt.Errorf("googlehosts: read CA certificate: %w (delete %s and %s to create a new CA)", certErr, certPath, keyPath)
	case keyErr != nil:
		return nil, fmt.Errorf("googlehosts: read CA key: %w (delete %s and %s to create a new CA)", keyErr, certPath, keyPath)
	}
	if err := fileutil.CheckPrivate(keyPath); err != nil {
		return nil, fmt.Errorf("googlehosts: CA key %s %w", keyPath, err)
	}
	certBlock, _ := pem.Decode(certPEM)
	if certBlock == nil || certBlock.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("googlehosts: %s holds no PEM CERTIFICATE (delete it and %s to create a new CA)", certPath, keyPath)
	}
	keyBlock, _ := pem.Decode(keyPEM)
	if keyBlock == nil || keyBlock.Type != "EC PRIVATE KEY" {
		return nil, fmt.Errorf("googlehosts: %s holds no PEM EC PRIVATE KEY (delete it and %s to create a new CA)", keyPath, certPath)
	}
	key, err := x509.ParseECPrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("googlehosts: parse CA key %s: %w", keyPath, err)
	}
	ca, err := newCA(certBlock.Bytes, key, now)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, dir)
	}
	if now().After(ca.cert.NotAfter) {
		return nil, fmt.Errorf("googlehosts: the CA in %s expired on %s; delete %s and %s to create a new one",
			dir, ca.cert.NotAfter.Format(time.DateOnly), certPath, keyPath)
	}
	if missing := slices.DeleteFunc(slices.Clone(hosts), ca.permits); len(missing) > 0 {
		// Made before some emulated host was added, or for another
		// universe: its name constraints would make clients reject those
		// hosts' leaves. Clients read the CA from the file, so a new one
		// in its place is all they need.
		return createCA(dir, certPath, keyPath, now, append(slices.Clone(ca.cert.PermittedDNSDomains), missing...))
	}
	return ca, nil
}

// permits reports whether the CA's name constraints list host: the only
// names it issues leaves for.
func (ca *CA) permits(host string) bool {
	return slices.Contains(ca.cert.PermittedDNSDomains, host)
}

func createCA(dir, certPath, keyPath string, now func() time.Time, hosts []string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("googlehosts: create CA directory: %w", err)
	}
	ca, err := NewCA(now, hosts...)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(ca.key)
	if err != nil {
		return nil, fmt.Errorf("googlehosts: encode CA key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	// Key first: a certificate without its key would block the next start.
	if err := fileutil.WriteAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("googlehosts: write CA key: %w", err)
	}
	// The certificate is public; clients of other users may need to read it.
	if err := fileutil.WriteAtomic(certPath, ca.certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("googlehosts: write CA certificate: %w", err)
	}
	return ca, nil
}

// Certificate returns the CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM returns the CA certificate in PEM, the content of CACertFile.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// Pool returns a certificate pool holding only the CA, for a Go client's
// tls.Config.RootCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Leaf returns a TLS certificate for host (a host the CA may certify: one
// it was made for), issued by the CA and cached until a day before it
// expires.
func (ca *CA) Leaf(host string) (*tls.Certificate, error) {
	if !ca.permits(host) {
		return nil, fmt.Errorf("googlehosts: no certificate for %q: not an emulated Google host", host)
	}
	now := ca.now()
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c, ok := ca.leaves[host]; ok && now.Before(c.Leaf.NotAfter.Add(-leafRenewal)) {
		return c, nil
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	start := now.Add(-clockBackdate)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    start,
		NotAfter:     start.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &ca.leafKey.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("googlehosts: issue certificate for %s: %w", host, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("googlehosts: parse certificate for %s: %w", host, err)
	}
	c := &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: ca.leafKey, Leaf: leaf}
	ca.leaves[host] = c
	return c, nil
}

func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("googlehosts: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}
