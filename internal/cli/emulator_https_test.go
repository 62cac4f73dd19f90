package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// TestEmulatorHTTPSProxy runs the emulator with --https-proxy and uses what
// it writes the way a user's program would: env.sh's proxy and CA, and a
// key file naming Google's token URL.
func TestEmulatorHTTPSProxy(t *testing.T) {
	t.Parallel()
	stateDir := filepath.Join(t.TempDir(), "state")
	base, stop := startEmulatorWith(t, stateDir, "--https-proxy", "127.0.0.1:0", "--metadata-listen", "127.0.0.1:0")

	for name, want := range map[string]os.FileMode{"ca-key.pem": 0o600, "ca.pem": 0o644, "env.sh": 0o600, "service-account.json": 0o600} {
		if _, err := os.Stat(filepath.Join(stateDir, name)); err != nil {
			t.Fatalf("emulator did not write %s: %v", name, err)
		}
		wantMode(t, filepath.Join(stateDir, name), want)
	}
	envSh, err := os.ReadFile(filepath.Join(stateDir, "env.sh"))
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(stateDir, "ca.pem")
	for _, want := range []string{
		"export SSL_CERT_FILE='" + caFile + "'", "export REQUESTS_CA_BUNDLE='" + caFile + "'",
		"export NODE_EXTRA_CA_CERTS='" + caFile + "'", "export CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE='" + caFile + "'",
		"CLOUDSDK_PROXY_TYPE=http", "CLOUDSDK_PROXY_ADDRESS='127.0.0.1'", "unset CLOUDSDK_AUTH_TOKEN_HOST",
		"NO_PROXY='127.0.0.1,localhost,::1'", "export HTTP_PROXY=",
	} {
		if !strings.Contains(string(envSh), want) {
			t.Errorf("env.sh lacks %q:\n%s", want, envSh)
		}
	}
	m := regexp.MustCompile(`export HTTPS_PROXY='([^']+)'`).FindSubmatch(envSh)
	if m == nil {
		t.Fatalf("env.sh sets no HTTPS_PROXY:\n%s", envSh)
	}
	proxyURL, err := url.Parse(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	if port := regexp.MustCompile(`CLOUDSDK_PROXY_PORT='(\d+)'`).FindSubmatch(envSh); port == nil || string(port[1]) != proxyURL.Port() {
		t.Errorf("CLOUDSDK_PROXY_PORT does not match HTTPS_PROXY %s:\n%s", proxyURL, envSh)
	}

	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy:           http.ProxyURL(proxyURL),
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}

	keyJSON, err := os.ReadFile(filepath.Join(stateDir, "service-account.json"))
	if err != nil {
		t.Fatal(err)
	}
	var key map[string]string
	if err := json.Unmarshal(keyJSON, &key); err != nil {
		t.Fatal(err)
	}
	if key["token_uri"] != "https://oauth2.googleapis.com/token" {
		t.Errorf("service-account.json token_uri = %q; want Google's", key["token_uri"])
	}
	cfg, err := google.JWTConfigFromJSON(keyJSON, defaultScope)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, client)
	if _, err := cfg.TokenSource(ctx).Token(); err != nil {
		t.Errorf("service-account token through the proxy: %v", err)
	}

	userJSON, err := os.ReadFile(filepath.Join(stateDir, "authorized-user.json"))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := google.CredentialsFromJSONWithType(ctx, userJSON, google.AuthorizedUser, defaultScope)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := creds.TokenSource.Token(); err != nil {
		t.Errorf("authorized_user refresh through the proxy: %v", err)
	}

	req, _ := http.NewRequest("GET", "http://metadata.google.internal/computeMetadata/v1/project/project-id", nil)
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "fake-project" {
		t.Errorf("metadata project-id through the proxy = %d %q; want 200 fake-project", resp.StatusCode, body)
	}

	// Every credential file names Google's URLs, none the emulator's own
	// token or STS endpoint.
	jsons, _ := filepath.Glob(filepath.Join(stateDir, "*.json"))
	checked := 0
	for _, path := range jsons {
		data, _ := os.ReadFile(path)
		var typed struct{ Type string }
		if json.Unmarshal(data, &typed) != nil || typed.Type == "" {
			continue
		}
		checked++
		for _, local := range []string{base + "/token", base + "/v1/token", base + "/v1/projects/"} {
			if strings.Contains(string(data), local) {
				t.Errorf("%s still names %s:\n%s", filepath.Base(path), local, data)
			}
		}
	}
	if checked < 2 {
		t.Errorf("found %d credential files in the state directory; want at least 2", checked)
	}

	// gcloud sends even GCE_METADATA_HOST's loopback address through its
	// proxy: the proxy answers it from the metadata server.
	mdsHost := regexp.MustCompile(`export GCE_METADATA_HOST='([^']+)'`).FindSubmatch(envSh)
	if mdsHost == nil {
		t.Fatalf("env.sh has no GCE_METADATA_HOST:\n%s", envSh)
	}
	req, _ = http.NewRequest("GET", "http://"+string(mdsHost[1])+"/computeMetadata/v1/project/project-id", nil)
	req.Header.Set("Metadata-Flavor", "Google")
	if resp, err = client.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("metadata server's own address through the proxy = %d; want 200", resp.StatusCode)
	}

	if _, err := client.Get("https://example.com/"); err == nil {
		t.Error("the proxy let a request to example.com through")
	}

	// A restart loads the same CA.
	stop()
	_, _ = startEmulatorWith(t, stateDir, "--https-proxy", "127.0.0.1:0")
	again, err := os.ReadFile(caFile)
	if err != nil || string(again) != string(caPEM) {
		t.Errorf("restart changed the CA (err %v)", err)
	}
}

func TestEmulatorHTTPSBadFlags(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad address", []string{"--https-proxy", "nonsense"}, "--https-proxy"},
		{"ca-dir alone", []string{"--ca-dir", stateDir}, "--ca-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, newEnv(t), "", append([]string{"emulator", "--listen", "127.0.0.1:0", "--state-dir", stateDir}, tt.args...)...)
			wantCode(t, r, ExitUsage)
			wantOneLineError(t, r, tt.want)
		})
	}
	// A CA key other users can read is refused, naming the file.
	caDir := t.TempDir()
	os.WriteFile(filepath.Join(caDir, "ca.pem"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(caDir, "ca-key.pem"), []byte("x"), 0o600)
	letOthersRead(t, filepath.Join(caDir, "ca-key.pem"))
	r := run(t, newEnv(t), "", "emulator", "--listen", "127.0.0.1:0", "--state-dir", stateDir,
		"--https-proxy", "127.0.0.1:0", "--ca-dir", caDir)
	fix := "chmod 600"
	if runtime.GOOS == "windows" {
		fix = "icacls"
	}
	if r.code == 0 || !strings.Contains(r.stderr, "ca-key.pem") || !strings.Contains(r.stderr, fix) {
		t.Errorf("world-readable CA key: exit %d, stderr %q; want a failure naming ca-key.pem and %s", r.code, r.stderr, fix)
	}
}
