package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/transport"
)

const testUniverse = "universe.test"

// TestEmulatorUniverse runs `gcptoken emulator --universe-domain` and uses
// what it writes as a user would: gcptoken's commands under env.sh, which
// sign the key's JWTs themselves and get ID tokens from IAM; a Go client
// through the HTTPS proxy, which serves the universe's host names and no
// others; the metadata server's universe; and a command configured for
// googleapis.com, which refuses the key with Google's error.
func TestEmulatorUniverse(t *testing.T) {
	t.Parallel()
	stateDir := filepath.Join(t.TempDir(), "state")
	startEmulatorWith(t, stateDir, "--universe-domain", testUniverse, "--https-proxy", "127.0.0.1:0", "--metadata-listen", "127.0.0.1:0")
	envSh, err := os.ReadFile(filepath.Join(stateDir, "env.sh"))
	if err != nil {
		t.Fatal(err)
	}
	vars, err := parseEnvSh(string(envSh))
	if err != nil {
		t.Fatal(err)
	}
	if vars["GOOGLE_CLOUD_UNIVERSE_DOMAIN"] != testUniverse || vars["CLOUDSDK_CORE_UNIVERSE_DOMAIN"] != testUniverse {
		t.Errorf("env.sh does not configure clients and gcloud for %s:\n%s", testUniverse, envSh)
	}
	keyJSON, err := os.ReadFile(filepath.Join(stateDir, "service-account.json"))
	if err != nil {
		t.Fatal(err)
	}
	var key map[string]string
	json.Unmarshal(keyJSON, &key)
	if key["universe_domain"] != testUniverse || key["token_uri"] != "https://oauth2."+testUniverse+"/token" {
		t.Errorf("service-account.json: universe_domain %q, token_uri %q; want the universe's", key["universe_domain"], key["token_uri"])
	}

	// gcptoken's commands under env.sh.
	e := newEnv(t)
	for k, v := range vars {
		e[k] = v
	}
	r := run(t, e, "", "print-access-token", "--no-cache")
	wantCode(t, r, ExitOK)
	if c := jwtClaims(t, strings.TrimSpace(r.stdout)); c["iss"] != fakegoogle.DefaultServiceAccount || c["scope"] != defaultScope {
		t.Errorf("print-access-token printed a token with claims %v; want the key's self-signed JWT", c)
	}
	const aud = "https://svc.example"
	r = run(t, e, "", "print-identity-token", "--no-cache", "--audience", aud)
	wantCode(t, r, ExitOK)
	if c := jwtClaims(t, strings.TrimSpace(r.stdout)); c["aud"] != aud || c["email"] != fakegoogle.DefaultServiceAccount || c["iss"] != "https://accounts.google.com" {
		t.Errorf("print-identity-token printed a token with claims %v; want Google's ID token for %s", c, aud)
	}
	// Impersonation from the key: its self-signed JWT at the universe's IAM
	// Credentials (the emulator's, through GCPTOKEN_EMULATOR_HOST).
	r = run(t, e, "", "print-access-token", "--no-cache", "--impersonate-service-account", fakegoogle.DefaultTargetServiceAccount)
	wantCode(t, r, ExitOK)
	if tok := strings.TrimSpace(r.stdout); !strings.HasPrefix(tok, "ya29.") {
		t.Errorf("impersonated token %.12q…; want an access token from generateAccessToken", tok)
	}
	r = run(t, e, "", "print-access-token", "--no-cache", "--universe-domain", "googleapis.com")
	wantCode(t, r, ExitCredentials)
	wantOneLineError(t, r, `the configured universe domain ("googleapis.com") does not match the universe domain found in the credentials ("universe.test")`,
		"--universe-domain")

	// A Go client through the proxy, trusting its CA.
	proxyURL, err := url.Parse(vars["HTTPS_PROXY"])
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(vars["SSL_CERT_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	base := &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: roots}}
	creds, err := credentials.FromJSON(keyJSON, &credentials.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	client, err := creds.NewClient(nil, &transport.Options{UniverseDomain: testUniverse, Base: base})
	if err != nil {
		t.Fatal(err)
	}
	client.Timeout = 10 * time.Second
	resp, err := client.Get("https://cloudresourcemanager." + testUniverse + "/v1/projects/" + fakegoogle.DefaultProjectID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"projectId": "fake-project"`) {
		t.Errorf("Resource Manager of %s with the self-signed JWT: %d %s", testUniverse, resp.StatusCode, body)
	}
	plain := &http.Client{Timeout: 10 * time.Second, Transport: base}
	if resp, err := plain.Get("https://oauth2.googleapis.com/tokeninfo"); err == nil {
		resp.Body.Close()
		t.Errorf("the proxy for %s answered oauth2.googleapis.com: %d", testUniverse, resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", "http://metadata.google.internal/computeMetadata/v1/universe/universe-domain", nil)
	req.Header.Set("Metadata-Flavor", "Google")
	if resp, err = plain.Do(req); err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != testUniverse {
		t.Errorf("metadata server's universe/universe-domain = %d %q; want %q", resp.StatusCode, body, testUniverse)
	}

	// The metadata server's tokens work at the universe's APIs.
	mds := run(t, map[string]string{"HOME": t.TempDir(), "GCPTOKEN_CACHE_DIR": t.TempDir(), "GCE_METADATA_HOST": vars["GCE_METADATA_HOST"],
		"GOOGLE_CLOUD_UNIVERSE_DOMAIN": testUniverse}, "", "print-access-token", "--no-cache")
	wantCode(t, mds, ExitOK)
	req, _ = http.NewRequest("GET", "https://cloudresourcemanager."+testUniverse+"/v1/projects/"+fakegoogle.DefaultProjectID, nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(mds.stdout))
	if resp, err = plain.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("Resource Manager of %s with the metadata server's token: %d", testUniverse, resp.StatusCode)
	}
}

func TestEmulatorUniverseBadFlag(t *testing.T) {
	t.Parallel()
	r := run(t, newEnv(t), "", "emulator", "--listen", "127.0.0.1:0", "--state-dir", t.TempDir(), "--universe-domain", "https://universe.test")
	wantCode(t, r, ExitUsage)
	wantOneLineError(t, r, "--universe-domain", "not a universe domain")
	r = run(t, newEnv(t), "", "print-access-token", "--universe-domain", "Nope")
	wantCode(t, r, ExitUsage)
	wantOneLineError(t, r, "--universe-domain")
}
