package emulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// newTest makes an Emulator with small keys in a fresh state directory
// (unless opts names one) and closes it when the test ends.
func newTest(t *testing.T, opts Options) *Emulator {
	t.Helper()
	if opts.StateDir == "" {
		opts.StateDir = filepath.Join(t.TempDir(), "state")
	}
	opts.RSAKeyBits = 1024
	em, err := New(&opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { em.Close() })
	return em
}

// serve runs em.Serve until the returned stop is called, which returns
// Serve's result.
func serve(t *testing.T, em *Emulator) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- em.Serve(ctx) }()
	var result error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return within 10 s of the context's end")
			}
		}
		return result
	}
	t.Cleanup(func() { stop() })
	return stop
}

// get fetches url (with a Host header host when not "") and returns the
// status and body.
func get(t *testing.T, client *http.Client, rawURL, host string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var plainClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

// TestServeAndShutdown runs the fake and the metadata server, checks that
// both answer, then that Serve returns nil when its context ends, closes
// the listeners and saves the state.
func TestServeAndShutdown(t *testing.T) {
	t.Parallel()
	em := newTest(t, Options{MetadataListen: "127.0.0.1:0"})
	info := em.Info()
	stop := serve(t, em)

	if status, body := get(t, plainClient, info.URL+"/.well-known/openid-configuration", ""); status != http.StatusOK || !strings.Contains(body, "jwks_uri") {
		t.Errorf("got openid-configuration %d %q; want 200 with jwks_uri", status, body)
	}
	if status, body := get(t, plainClient, "http://"+info.MetadataAddr+"/computeMetadata/v1/project/project-id", "", "Metadata-Flavor", "Google"); status != http.StatusOK || body != fakegoogle.DefaultProjectID {
		t.Errorf("got project-id %d %q; want 200 %q", status, body, fakegoogle.DefaultProjectID)
	}
	idURL := "http://" + info.MetadataAddr + "/computeMetadata/v1/instance/service-accounts/default/identity?audience=" + url.QueryEscape(info.SampleServiceURL)
	status, idToken := get(t, plainClient, idURL, "", "Metadata-Flavor", "Google")
	if status != http.StatusOK {
		t.Fatalf("got identity %d %q; want 200", status, idToken)
	}
	// The fake accepts the metadata server's ID token at its sample service.
	if status, body := get(t, plainClient, info.SampleServiceURL+"?start=1&end=2", "", "Authorization", "Bearer "+idToken); status != http.StatusOK {
		t.Errorf("got sample service %d %q with the metadata server's ID token; want 200", status, body)
	}

	if err := os.Remove(filepath.Join(info.StateDir, stateFile)); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("got Serve = %v; want nil after the context ended", err)
	}
	for _, addr := range []string{strings.TrimPrefix(info.URL, "http://"), info.MetadataAddr} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Serve returned", addr)
		}
	}
	if _, err := os.Stat(filepath.Join(info.StateDir, stateFile)); err != nil {
		t.Errorf("Serve did not save the state on shutdown: %v", err)
	}
	if err := em.Serve(context.Background()); err == nil {
		t.Error("a second Serve returned nil; want an error")
	}
}

// TestServeStopsWhenOneServerFails checks that a server that cannot serve
// stops the others, and Serve says which one failed.
func TestServeStopsWhenOneServerFails(t *testing.T) {
	t.Parallel()
	em := newTest(t, Options{MetadataListen: "127.0.0.1:0"})
	em.mdsLn.Close()
	done := make(chan error, 1)
	go func() { done <- em.Serve(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "metadata server") {
			t.Errorf("got Serve = %v; want the metadata server's failure", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve kept serving the fake after the metadata server failed")
	}
}

// TestFilesAndStateReload checks the state directory's modes, and that a
// second emulator on the same directory keeps the keys (so files written
// by the first stay valid) and the IAM grants.
func TestFilesAndStateReload(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	grant := Grant{Member: "someone@example.com", ServiceAccount: fakegoogle.DefaultServiceAccount}
	first := newTest(t, Options{StateDir: dir, TokenCreators: []Grant{grant}})
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("got state directory %v (err %v); want mode 700", fi, err)
	}
	for _, name := range []string{stateFile, serviceAccountFile, authorizedUserFile, envFile,
		"external-account-aws.json", "external-account-oidc.json", "oidc-token.jwt"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("New did not write %s: %v", name, err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("got %s mode %o; want 600", name, perm)
		}
	}
	keyID := func() string {
		var key struct {
			PrivateKeyID string `json:"private_key_id"`
		}
		data, err := os.ReadFile(filepath.Join(dir, serviceAccountFile))
		if err != nil || json.Unmarshal(data, &key) != nil || key.PrivateKeyID == "" {
			t.Fatalf("service-account.json: %v %s", err, data)
		}
		return key.PrivateKeyID
	}
	before := keyID()

	second := newTest(t, Options{StateDir: dir})
	if after := keyID(); after != before {
		t.Errorf("got key %s after a restart; want the saved key %s", after, before)
	}
	state, err := second.Fake().MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(state), grant.Member) {
		t.Errorf("the restarted fake lost the Token Creator grant of %s", grant.Member)
	}
	// A damaged state is refused, naming the file, not replaced.
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(&Options{StateDir: dir}); err == nil || !strings.Contains(err.Error(), stateFile) {
		t.Errorf("got New = %v on a damaged state; want an error naming %s", err, stateFile)
	}
}

// TestEnvSh checks what env.sh exports for each kind of emulator.
func TestEnvSh(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    Options
		want    func(Info) map[string]string // variable → value
		without []string
	}{
		{"fake only", Options{}, func(i Info) map[string]string {
			return map[string]string{
				"GCPTOKEN_EMULATOR_URL":          i.URL,
				"GCPTOKEN_EMULATOR_HOST":         strings.TrimPrefix(i.URL, "http://"),
				"GOOGLE_APPLICATION_CREDENTIALS": i.ServiceAccountFile,
				"GOOGLE_CLOUD_PROJECT":           fakegoogle.DefaultProjectID,
				"GCPTOKEN_AUTH_URL":              i.URL + "/o/oauth2/v2/auth",
				"GCPTOKEN_SAMPLE_URL":            i.SampleServiceURL,
				"CLOUDSDK_AUTH_TOKEN_HOST":       i.URL + "/token",
				"GCPTOKEN_AWS_METADATA_ENDPOINT": i.URL,
			}
		}, []string{"GCE_METADATA_HOST", "GOOGLE_CLOUD_UNIVERSE_DOMAIN", "HTTPS_PROXY"}},
		{"metadata server", Options{MetadataListen: "127.0.0.1:0"}, func(i Info) map[string]string {
			return map[string]string{"GCE_METADATA_HOST": i.MetadataAddr, "GCE_METADATA_IP": i.MetadataAddr, "GCE_METADATA_ROOT": i.MetadataAddr}
		}, []string{"HTTPS_PROXY", "HTTP_PROXY"}},
		{"universe", Options{UniverseDomain: "universe.test"}, func(Info) map[string]string {
			return map[string]string{"GOOGLE_CLOUD_UNIVERSE_DOMAIN": "universe.test", "CLOUDSDK_CORE_UNIVERSE_DOMAIN": "universe.test"}
		}, nil},
		{"https proxy", Options{HTTPSProxyListen: "127.0.0.1:0"}, func(i Info) map[string]string {
			host, port, _ := net.SplitHostPort(i.HTTPSProxyAddr)
			return map[string]string{
				"HTTPS_PROXY": "http://" + i.HTTPSProxyAddr, "SSL_CERT_FILE": i.CAFile, "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE": i.CAFile,
				"CLOUDSDK_PROXY_ADDRESS": host, "CLOUDSDK_PROXY_PORT": port, "NO_PROXY": "127.0.0.1,localhost,::1",
			}
		}, []string{"HTTP_PROXY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			em := newTest(t, tt.opts)
			data, err := os.ReadFile(em.Info().EnvFile)
			if err != nil {
				t.Fatal(err)
			}
			vars := exports(string(data))
			for k, want := range tt.want(em.Info()) {
				if got, ok := vars[k]; !ok || got != want {
					t.Errorf("got %s = %q (set %v); want %q in:\n%s", k, got, ok, want, data)
				}
			}
			for _, k := range tt.without {
				if _, ok := vars[k]; ok {
					t.Errorf("env.sh sets %s; want it unset here:\n%s", k, data)
				}
			}
		})
	}
}

// exports reads env.sh's "export NAME='value' NAME=word …" lines.
func exports(envSh string) map[string]string {
	vars := map[string]string{}
	for _, line := range strings.Split(envSh, "\n") {
		rest, ok := strings.CutPrefix(line, "export ")
		if !ok {
			continue
		}
		rest, _, _ = strings.Cut(rest, " #")
		for _, assignment := range strings.Fields(rest) {
			if name, value, ok := strings.Cut(assignment, "="); ok {
				vars[name] = strings.Trim(value, "'")
			}
		}
	}
	return vars
}

// TestHTTPSProxy uses the proxy as env.sh tells programs to: Google's
// host names through it, trusting its CA; credential files name Google's
// URLs; other hosts are refused.
func TestHTTPSProxy(t *testing.T) {
	t.Parallel()
	em := newTest(t, Options{HTTPSProxyListen: "127.0.0.1:0", MetadataListen: "127.0.0.1:0"})
	info := em.Info()
	serve(t, em)
	caPEM, err := os.ReadFile(info.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", info.CAFile)
	}
	proxyURL := &url.URL{Scheme: "http", Host: info.HTTPSProxyAddr}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
	if status, body := get(t, client, "https://www.googleapis.com/oauth2/v3/certs", ""); status != http.StatusOK || !strings.Contains(body, `"keys"`) {
		t.Errorf("got Google's certs through the proxy: %d %q; want 200 with keys", status, body)
	}
	if status, body := get(t, client, "http://metadata.google.internal/computeMetadata/v1/project/project-id", "", "Metadata-Flavor", "Google"); status != http.StatusOK || body != fakegoogle.DefaultProjectID {
		t.Errorf("got metadata project-id through the proxy: %d %q; want 200 %q", status, body, fakegoogle.DefaultProjectID)
	}
	if resp, err := client.Get("https://example.com/"); err == nil {
		resp.Body.Close()
		t.Error("the proxy let a request to example.com through")
	}
	var key struct {
		TokenURI string `json:"token_uri"`
	}
	data, err := os.ReadFile(info.ServiceAccountFile)
	if err != nil || json.Unmarshal(data, &key) != nil {
		t.Fatalf("service-account.json: %v", err)
	}
	if key.TokenURI != "https://oauth2.googleapis.com/token" {
		t.Errorf("got token_uri %q; want Google's", key.TokenURI)
	}
	if fi, err := os.Stat(filepath.Join(info.StateDir, "ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("got CA key %v (err %v); want mode 600", fi, err)
	}
}

// TestBadOptions checks that each bad option is an *OptionError naming
// its field.
func TestBadOptions(t *testing.T) {
	t.Parallel()
	nobody := "nobody@fake-project.iam.gserviceaccount.com"
	tests := []struct {
		name  string
		opts  Options
		field string
		index int
	}{
		{"listen", Options{Listen: "nonsense"}, "Listen", 0},
		{"metadata listen", Options{MetadataListen: "8087"}, "MetadataListen", 0},
		{"proxy listen", Options{HTTPSProxyListen: "x"}, "HTTPSProxyListen", 0},
		{"allowed host", Options{AllowedHosts: []string{"ok.test", "http://bad/"}}, "AllowedHosts", 0},
		{"universe", Options{UniverseDomain: "https://universe.test"}, "UniverseDomain", 0},
		{"token creator", Options{TokenCreators: []Grant{{"a@b.c", fakegoogle.DefaultServiceAccount}, {"a@b.c", nobody}}}, "TokenCreators", 1},
		{"revoked creator", Options{RevokedTokenCreators: []Grant{{"a@b.c", nobody}}}, "RevokedTokenCreators", 0},
		{"lifetime extension", Options{LifetimeExtensions: []string{nobody}}, "LifetimeExtensions", 0},
		{"domain delegation", Options{DomainDelegations: []Delegation{{nobody, []string{"openid"}}}}, "DomainDelegations", 0},
		{"fault", Options{Faults: []fakegoogle.Fault{{Path: "/token", Rate: 5, Status: 503}}}, "Faults", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.StateDir = t.TempDir()
			tt.opts.RSAKeyBits = 1024
			em, err := New(&tt.opts)
			if err == nil {
				em.Close()
				t.Fatal("got New = nil error; want an *OptionError")
			}
			var oe *OptionError
			if !errors.As(err, &oe) || oe.Field != tt.field || oe.Index != tt.index {
				t.Fatalf("got %v (%#v); want an *OptionError for %s[%d]", err, oe, tt.field, tt.index)
			}
			if !strings.Contains(err.Error(), "Options."+tt.field) {
				t.Errorf("got message %q; want it to name Options.%s", err, tt.field)
			}
		})
	}
}

// TestNewRemovesItsTemporaryDirectory checks that a failed New leaves no
// temporary state directory behind (a command with a bad flag would
// otherwise litter the temporary directory).
func TestNewRemovesItsTemporaryDirectory(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	_, err := New(&Options{RSAKeyBits: 1024, LifetimeExtensions: []string{"nobody@fake-project.iam.gserviceaccount.com"}})
	if err == nil {
		t.Fatal("got New = nil error; want the bad LifetimeExtensions refused")
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("got %d entries left in the temporary directory; want none", len(left))
	}
}
