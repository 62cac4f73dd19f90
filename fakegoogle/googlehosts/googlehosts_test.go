package googlehosts_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/fakegoogle/googlehosts"
)

// front is a fake Google behind a proxy served by httptest.
type front struct {
	fake   *fakegoogle.Running
	ca     *googlehosts.CA
	proxy  *googlehosts.Proxy
	srv    *httptest.Server
	client *http.Client // goes through the proxy and trusts only the CA
	mdsHit []string     // Host + path seen by the metadata handler
}

func newFront(t *testing.T, withMetadata bool) *front {
	t.Helper()
	fake, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	ca, err := googlehosts.NewCA(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &front{fake: fake, ca: ca}
	opts := &googlehosts.Options{Fake: fake, CA: ca, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if withMetadata {
		opts.MetadataAliases = []string{"127.0.0.1:8087"}
		opts.Metadata = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.mdsHit = append(f.mdsHit, r.Host+" "+r.URL.RequestURI()+" flavor="+r.Header.Get("Metadata-Flavor"))
			w.Header().Set("Metadata-Flavor", "Google")
			io.WriteString(w, "fake-project")
		})
	}
	if f.proxy, err = googlehosts.New(opts); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.proxy)
	t.Cleanup(func() { f.srv.Close(); f.proxy.Close() })
	proxyURL, _ := url.Parse(f.srv.URL)
	f.client = &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:           http.ProxyURL(proxyURL),
			TLSClientConfig: &tls.Config{RootCAs: ca.Pool()},
		},
	}
	return f
}

func TestCAFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	ca, err := googlehosts.LoadOrCreateCA(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"": 0o700, googlehosts.CAKeyFile: 0o600, googlehosts.CACertFile: 0o644} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("mode of %q = %v; want %v", name, got, want)
		}
	}
	cert := ca.Certificate()
	if !cert.IsCA || cert.PublicKeyAlgorithm != x509.ECDSA || cert.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
		t.Errorf("CA: IsCA=%v alg=%v; want an ECDSA P-256 CA", cert.IsCA, cert.PublicKeyAlgorithm)
	}
	again, err := googlehosts.LoadOrCreateCA(dir, nil)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !again.Certificate().Equal(cert) {
		t.Error("reloaded CA differs from the one created")
	}
	onDisk, _ := os.ReadFile(filepath.Join(dir, googlehosts.CACertFile))
	if string(onDisk) != string(ca.CertPEM()) {
		t.Error("ca.pem differs from CertPEM()")
	}

	keyPath := filepath.Join(dir, googlehosts.CAKeyFile)
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = googlehosts.LoadOrCreateCA(dir, nil)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("load with a world-readable key: err = %v; want one saying chmod 600", err)
	}
	os.Chmod(keyPath, 0o600)

	other := t.TempDir()
	if _, err := googlehosts.LoadOrCreateCA(other, nil); err != nil {
		t.Fatal(err)
	}
	otherKey, _ := os.ReadFile(filepath.Join(other, googlehosts.CAKeyFile))
	if err := os.WriteFile(keyPath, otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := googlehosts.LoadOrCreateCA(dir, nil); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("load with another CA's key: err = %v; want a mismatch", err)
	}
	if err := os.WriteFile(keyPath, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := googlehosts.LoadOrCreateCA(dir, nil); err == nil || !strings.Contains(err.Error(), keyPath) {
		t.Errorf("load with a garbage key: err = %v; want one naming %s", err, keyPath)
	}
	os.Remove(filepath.Join(other, googlehosts.CACertFile))
	if _, err := googlehosts.LoadOrCreateCA(other, nil); err == nil || !strings.Contains(err.Error(), "delete") {
		t.Errorf("load with the certificate missing: err = %v; want one saying what to delete", err)
	}
}

func TestLeafCertificates(t *testing.T) {
	ca, err := googlehosts.NewCA(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range googlehosts.Hosts() {
		t.Run(host, func(t *testing.T) {
			c, err := ca.Leaf(host)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Certificate) != 2 || string(c.Certificate[1]) != string(ca.Certificate().Raw) {
				t.Errorf("chain has %d certificates; want leaf + CA", len(c.Certificate))
			}
			_, err = c.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: ca.Pool()})
			if err != nil {
				t.Errorf("leaf for %s does not verify against the CA: %v", host, err)
			}
			if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: ca.Pool()}); err == nil {
				t.Errorf("leaf for %s verifies for example.com", host)
			}
			if again, _ := ca.Leaf(host); again != c {
				t.Error("second Leaf call issued a new certificate; want the cached one")
			}
		})
	}
	if _, err := ca.Leaf("example.com"); err == nil {
		t.Error("Leaf(example.com) succeeded; want an error (not emulated)")
	}
}

// TestNameConstraints shows that the CA cannot vouch for other sites even
// if its key leaks: a certificate for example.com signed with it is
// rejected by a client that trusts the CA.
func TestNameConstraints(t *testing.T) {
	dir := t.TempDir()
	ca, err := googlehosts.LoadOrCreateCA(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := os.ReadFile(filepath.Join(dir, googlehosts.CAKeyFile))
	block, _ := pem.Decode(keyPEM)
	caKey, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "example.com"},
		DNSNames: []string{"example.com"}, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Certificate(), &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := x509.ParseCertificate(der)
	_, err = forged.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: ca.Pool()})
	if err == nil || !strings.Contains(err.Error(), "constraint") {
		t.Errorf("certificate for example.com signed by the CA: verify err = %v; want a name-constraint violation", err)
	}
}

// TestConnectToEmulatedHost runs golang.org/x/oauth2's service-account flow
// unmodified through the proxy, with a key file naming Google's real token
// URL, then reads tokeninfo and the certificates from Google's hosts.
func TestConnectToEmulatedHost(t *testing.T) {
	f := newFront(t, false)
	keyJSON, err := f.fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	googleKey, err := googlehosts.GoogleURLs(keyJSON, f.fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	var key map[string]string
	json.Unmarshal(googleKey, &key)
	if key["token_uri"] != "https://oauth2.googleapis.com/token" {
		t.Fatalf("rewritten token_uri = %q; want Google's", key["token_uri"])
	}
	cfg, err := google.JWTConfigFromJSON(googleKey, "https://www.googleapis.com/auth/cloud-platform")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, f.client)
	tok, err := cfg.TokenSource(ctx).Token()
	if err != nil {
		t.Fatalf("token through the proxy: %v", err)
	}
	if got := f.fake.RequestCount("/token"); got != 1 {
		t.Errorf("fake saw %d token requests; want 1", got)
	}

	resp, err := f.client.Get("https://www.googleapis.com/oauth2/v3/tokeninfo?access_token=" + url.QueryEscape(tok.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]string
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	sa, _ := f.fake.ServiceAccount(fakegoogle.DefaultServiceAccount)
	if resp.StatusCode != 200 || info["aud"] != sa.UniqueID || !strings.Contains(info["scope"], "cloud-platform") {
		t.Errorf("tokeninfo: status %d, aud %q, scope %q; want 200, %q, cloud-platform", resp.StatusCode, info["aud"], info["scope"], sa.UniqueID)
	}
	if resp.TLS == nil || resp.TLS.PeerCertificates[0].Subject.CommonName != "www.googleapis.com" {
		t.Errorf("tokeninfo was not answered over TLS by a certificate for www.googleapis.com")
	}

	tests := []struct {
		name, url  string
		wantStatus int
		wantBody   string
	}{
		{"JWKS on www", "https://www.googleapis.com/oauth2/v3/certs", 200, `"keys"`},
		{"discovery on accounts", "https://accounts.google.com/.well-known/openid-configuration", 200, `"jwks_uri"`},
		// Google's own 404 page, as Google answers a path asked of the
		// wrong host.
		{"certs asked of the wrong host", "https://oauth2.googleapis.com/oauth2/v3/certs", 404, "The requested URL <code>/oauth2/v3/certs</code> was not found on this server."},
		{"STS path on oauth2", "https://oauth2.googleapis.com/v1/token", 404, "<title>Error 404 (Not Found)!!1</title>"},
		// The IAM Credentials and Resource Manager hosts share /v1/projects/.
		{"project asked of iamcredentials", "https://iamcredentials.googleapis.com/v1/projects/fake-project", 404, "Error 404 (Not Found)"},
		{"signJwt asked of cloudresourcemanager", "https://cloudresourcemanager.googleapis.com/v1/projects/-/serviceAccounts/x@y:signJwt", 404, "Error 404 (Not Found)"},
		{"project without a token", "https://cloudresourcemanager.googleapis.com/v1/projects/fake-project", 401, `"UNAUTHENTICATED"`},
		{"IAP keys on gstatic", "https://www.gstatic.com/iap/verify/public_key-jwk", 200, `"ES256"`},
		{"device page on www.google.com", "https://www.google.com/device", 200, `name="user_code"`},
		{"userinfo on openidconnect", "https://openidconnect.googleapis.com/v1/userinfo", 401, "Invalid Credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := f.client.Get(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("GET %s = %d %q; want %d containing %q", tt.url, resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

// TestRefused checks that nothing but the emulated hosts gets through, and
// that each refusal says why.
func TestRefused(t *testing.T) {
	f := newFront(t, false)
	tests := []struct {
		name, method, target string // target: CONNECT authority or absolute URL
		wantStatus           int
		wantBody             string
	}{
		{"CONNECT foreign host", "CONNECT", "example.com:443", 403, "never forwards to the internet"},
		{"CONNECT Google host not emulated", "CONNECT", "storage.googleapis.com:443", 403, "not a host the fake Google emulates"},
		{"CONNECT emulated host, other port", "CONNECT", "oauth2.googleapis.com:8443", 403, "port 443 only"},
		{"plain HTTP to foreign host", "GET", "http://example.com/", 403, "never forwards to the internet"},
		{"plain HTTP to emulated host", "POST", "http://oauth2.googleapis.com/token", 403, "over HTTPS only"},
		{"metadata without the route", "GET", "http://metadata.google.internal/computeMetadata/v1/project/project-id", 403, "--metadata-listen"},
		{"CONNECT metadata without the route", "CONNECT", "169.254.169.254:80", 403, "--metadata-listen"},
		{"not a proxy request", "GET", "/", 400, "HTTPS_PROXY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawRequest(t, f.srv.Listener.Addr().String(), tt.method, tt.target, "")
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Errorf("%s %s = %d %q; want %d containing %q", tt.method, tt.target, resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
	if n := f.fake.RequestCount("/token"); n != 0 {
		t.Errorf("fake saw %d token requests; want 0", n)
	}

	// Go's own client sees the refusal as an error, not as a response from
	// the site.
	if _, err := f.client.Get("https://example.com/"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("GET https://example.com/ through the proxy: err = %v; want a Forbidden proxy error", err)
	}
}

// TestMetadataRoute checks both ways a plain-HTTP metadata request reaches
// the metadata handler: absolute-form (Go, Python) and a CONNECT tunnel to
// port 80 (Node's https-proxy-agent), the latter with the request sent
// before the proxy's answer.
func TestMetadataRoute(t *testing.T) {
	f := newFront(t, true)
	proxyURL, _ := url.Parse(f.srv.URL)
	plain := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", "http://metadata.google.internal/computeMetadata/v1/project/project-id", nil)
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "fake-project" || resp.Header.Get("Metadata-Flavor") != "Google" {
		t.Errorf("absolute-form metadata request = %d %q", resp.StatusCode, body)
	}

	get := "GET /computeMetadata/v1/project/project-id HTTP/1.1\r\nHost: 169.254.169.254\r\nMetadata-Flavor: Google\r\n\r\n"
	resp, tunnelled := rawRequest(t, f.srv.Listener.Addr().String(), "CONNECT", "169.254.169.254:80", get)
	if resp.StatusCode != 200 || tunnelled != "fake-project" {
		t.Errorf("tunnelled metadata request = %d %q; want 200 fake-project", resp.StatusCode, tunnelled)
	}
	// The fully qualified name, as Node's gcp-metadata tunnels it.
	get = strings.ReplaceAll(get, "169.254.169.254", "metadata.google.internal.")
	resp, tunnelled = rawRequest(t, f.srv.Listener.Addr().String(), "CONNECT", "metadata.google.internal.:80", get)
	if resp.StatusCode != 200 || tunnelled != "fake-project" {
		t.Errorf("tunnelled metadata request to metadata.google.internal. = %d %q; want 200 fake-project", resp.StatusCode, tunnelled)
	}
	// An alias: the loopback address of GCE_METADATA_HOST, which gcloud
	// sends through its proxy.
	req, _ = http.NewRequest("GET", "http://127.0.0.1:8087/computeMetadata/v1/project/project-id", nil)
	req.Header.Set("Metadata-Flavor", "Google")
	if resp, err = plain.Do(req); err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "fake-project" {
		t.Errorf("metadata request for an alias = %d %q; want 200 fake-project", resp.StatusCode, body)
	}
	if resp, _ := rawRequest(t, f.srv.Listener.Addr().String(), "GET", "http://127.0.0.1:8088/", ""); resp.StatusCode != 403 {
		t.Errorf("request for another loopback port = %d; want 403", resp.StatusCode)
	}
	want := []string{
		"metadata.google.internal /computeMetadata/v1/project/project-id flavor=Google",
		"169.254.169.254 /computeMetadata/v1/project/project-id flavor=Google",
		"metadata.google.internal. /computeMetadata/v1/project/project-id flavor=Google",
		"127.0.0.1:8087 /computeMetadata/v1/project/project-id flavor=Google",
	}
	if strings.Join(f.mdsHit, "\n") != strings.Join(want, "\n") {
		t.Errorf("metadata handler saw %q; want %q", f.mdsHit, want)
	}
}

// TestDirectTLS serves the hosts without the proxy, as when /etc/hosts
// points Google's names at the emulator.
func TestDirectTLS(t *testing.T) {
	f := newFront(t, false)
	srv := httptest.NewUnstartedServer(f.proxy.GoogleHandler())
	srv.TLS = f.proxy.TLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: f.ca.Pool()},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	resp, err := client.Get("https://www.googleapis.com/oauth2/v1/certs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET certs directly = %d; want 200", resp.StatusCode)
	}
}

func TestGoogleURLs(t *testing.T) {
	base := "http://127.0.0.1:8086"
	in := `{"type":"impersonated_service_account",
	  "service_account_impersonation_url":"` + base + `/v1/projects/-/serviceAccounts/t@p.iam.gserviceaccount.com:generateAccessToken",
	  "source_credentials":{"type":"service_account","token_uri":"` + base + `/token","auth_uri":"` + base + `/o/oauth2/auth",
	    "client_x509_cert_url":"` + base + `/robot/v1/metadata/x509/a%40b","auth_provider_x509_cert_url":"` + base + `/oauth2/v1/certs"},
	  "token_url":"` + base + `/v1/token","sample":"` + base + `/sample/get_range","other":"http://127.0.0.1:9/token","n":3}`
	out, err := googlehosts.GoogleURLs([]byte(in), base+"/")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ImpURL string `json:"service_account_impersonation_url"`
		Src    map[string]string
		Token  string `json:"token_url"`
		Sample string
		Other  string
		N      int
	}
	var raw map[string]json.RawMessage
	json.Unmarshal(out, &raw)
	json.Unmarshal(out, &got)
	json.Unmarshal(raw["source_credentials"], &got.Src)
	checks := map[string][2]string{
		"impersonation": {got.ImpURL, "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/t@p.iam.gserviceaccount.com:generateAccessToken"},
		"token_uri":     {got.Src["token_uri"], "https://oauth2.googleapis.com/token"},
		"auth_uri":      {got.Src["auth_uri"], "https://accounts.google.com/o/oauth2/auth"},
		"x509":          {got.Src["client_x509_cert_url"], "https://www.googleapis.com/robot/v1/metadata/x509/a%40b"},
		"provider x509": {got.Src["auth_provider_x509_cert_url"], "https://www.googleapis.com/oauth2/v1/certs"},
		"sts":           {got.Token, "https://sts.googleapis.com/v1/token"},
		"sample kept":   {got.Sample, base + "/sample/get_range"},
		"other kept":    {got.Other, "http://127.0.0.1:9/token"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q; want %q", name, c[0], c[1])
		}
	}
	if got.N != 3 {
		t.Errorf("number field = %d; want 3 kept", got.N)
	}
	if _, err := googlehosts.GoogleURLs([]byte("{"), base); err == nil {
		t.Error("GoogleURLs accepted invalid JSON")
	}
}

// rawRequest sends one request to the proxy by hand (so CONNECT answers and
// early-sent tunnel bytes can be checked) and returns the response and
// body. After a 200 CONNECT, tunnelled is written and its answer returned.
func rawRequest(t *testing.T, proxyAddr, method, target, tunnelled string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", proxyAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	host := target
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		host = u.Host
	} else if method != "CONNECT" {
		host = proxyAddr
	}
	// The tunnelled request goes in the same write as the CONNECT: the
	// proxy must not lose bytes it read ahead.
	io.WriteString(conn, method+" "+target+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n"+tunnelled)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: read response: %v", method, target, err)
	}
	if method == "CONNECT" && resp.StatusCode == 200 {
		if resp, err = http.ReadResponse(br, &http.Request{Method: "GET"}); err != nil {
			t.Fatalf("tunnelled request: %v", err)
		}
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// TestCAFromBeforeNewHosts loads a CA made when fewer hosts were emulated:
// its name constraints would make clients reject the new hosts' leaves, so
// LoadOrCreateCA replaces it with one that covers every host.
func TestCAFromBeforeNewHosts(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "old CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		PermittedDNSDomainsCritical: true, PermittedDNSDomains: []string{"oauth2.googleapis.com"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, googlehosts.CACertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, googlehosts.CAKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)

	ca, err := googlehosts.LoadOrCreateCA(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ca.Certificate().SerialNumber.Cmp(big.NewInt(9)) == 0 {
		t.Fatal("LoadOrCreateCA kept the CA whose name constraints miss emulated hosts")
	}
	for _, host := range googlehosts.Hosts() {
		leaf, err := ca.Leaf(host)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: ca.Pool()}); err != nil {
			t.Errorf("leaf for %s from the replaced CA: %v", host, err)
		}
	}
	onDisk, _ := os.ReadFile(filepath.Join(dir, googlehosts.CACertFile))
	if string(onDisk) != string(ca.CertPEM()) {
		t.Error("the new CA was not written to ca.pem")
	}
}

// TestHTTP2ForGRPC checks that iamcredentials.googleapis.com, which Google's
// generated Go client calls over gRPC, is offered HTTP/2 and routes the
// gRPC service to the fake, while the other hosts keep HTTP/1.1.
func TestHTTP2ForGRPC(t *testing.T) {
	f := newFront(t, false)
	proxyURL, _ := url.Parse(f.srv.URL)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy:             http.ProxyURL(proxyURL),
		TLSClientConfig:   &tls.Config{RootCAs: f.ca.Pool()},
		ForceAttemptHTTP2: true,
	}}
	// A gRPC call without credentials: one empty message, answered with
	// UNAUTHENTICATED (16) in gRPC's framing.
	req, err := http.NewRequest(http.MethodPost, "https://iamcredentials.googleapis.com/google.iam.credentials.v1.IAMCredentials/GenerateAccessToken",
		strings.NewReader("\x00\x00\x00\x00\x00"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	status := resp.Header.Get("Grpc-Status") + resp.Trailer.Get("Grpc-Status")
	if resp.ProtoMajor != 2 || resp.Header.Get("Content-Type") != "application/grpc" || status != "16" {
		t.Errorf("gRPC call: got %s, Content-Type %q, grpc-status %q; want HTTP/2, application/grpc, 16",
			resp.Proto, resp.Header.Get("Content-Type"), status)
	}
	resp, err = client.Get("https://www.googleapis.com/oauth2/v3/certs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.StatusCode != 200 {
		t.Errorf("GET certs: got %s %d; want HTTP/1.1 200 (HTTP/2 only where gRPC needs it)", resp.Proto, resp.StatusCode)
	}
}

// TestFakeAliasRoute checks that plain-HTTP requests for the fake's own
// address reach the fake (gcloud sends an AWS external_account's
// instance-metadata requests there through its proxy), and other loopback
// addresses stay refused.
func TestFakeAliasRoute(t *testing.T) {
	fake, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	ca, err := googlehosts.NewCA(nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(fake.URL, "http://")
	proxy, err := googlehosts.New(&googlehosts.Options{Fake: fake, CA: ca, FakeAliases: []string{addr},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(func() { srv.Close(); proxy.Close() })

	region := "http://" + addr + "/latest/meta-data/placement/availability-zone"
	resp, body := rawRequest(t, srv.Listener.Addr().String(), "GET", region, "")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, fakegoogle.FakeAWSRegion) {
		t.Errorf("GET %s through the proxy = %d %q; want 200 and a zone of %s", region, resp.StatusCode, body, fakegoogle.FakeAWSRegion)
	}
	if got := fake.RequestCount("/latest/meta-data/placement/availability-zone"); got != 1 {
		t.Errorf("fake saw %d instance-metadata requests; want 1", got)
	}
	if resp, _ := rawRequest(t, srv.Listener.Addr().String(), "GET", "http://127.0.0.1:1/latest/meta-data/", ""); resp.StatusCode != 403 {
		t.Errorf("request for another loopback address = %d; want 403", resp.StatusCode)
	}
	if resp, _ := rawRequest(t, srv.Listener.Addr().String(), "CONNECT", addr, ""); resp.StatusCode != 403 {
		t.Errorf("CONNECT to the fake's address = %d; want 403 (only plain HTTP is routed)", resp.StatusCode)
	}
}
