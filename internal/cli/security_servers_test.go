package cli

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// hostRequest sends a real HTTP request to addr with the given Host header
// and headers, and returns the status and body.
func hostRequest(t *testing.T, method, addr, host, path string, h http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// TestSecurityEmulatorDNSRebinding: a web page rebinds its DNS name to the
// emulator's listeners and reads from them as if same-origin: the fake's
// keys and tokens, the metadata server's tokens. `gcptoken emulator`
// refuses names it does not serve on both listeners, answers its own, and
// those added with --allow-host.
func TestSecurityEmulatorDNSRebinding(t *testing.T) {
	t.Parallel()
	stateDir := filepath.Join(t.TempDir(), "state")
	base, _ := startEmulatorWith(t, stateDir, "--metadata-listen", "127.0.0.1:0", "--allow-host", "fake.internal.example")
	fakeAddr := strings.TrimPrefix(base, "http://")
	envSh, err := os.ReadFile(filepath.Join(stateDir, "env.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`export GCE_METADATA_HOST='([^']+)'`).FindSubmatch(envSh)
	if m == nil {
		t.Fatalf("env.sh has no GCE_METADATA_HOST:\n%s", envSh)
	}
	mdsAddr := string(m[1])
	flavor := http.Header{"Metadata-Flavor": {"Google"}}
	tokenPath := "/computeMetadata/v1/instance/service-accounts/default/token"
	tests := []struct {
		name, addr, host, path string
		h                      http.Header
		want                   int
	}{
		{"fake, rebound name", fakeAddr, "attacker.example", "/.well-known/openid-configuration", nil, http.StatusMisdirectedRequest},
		{"fake, its address", fakeAddr, fakeAddr, "/.well-known/openid-configuration", nil, http.StatusOK},
		{"fake, localhost", fakeAddr, "localhost", "/.well-known/openid-configuration", nil, http.StatusOK},
		{"fake, --allow-host", fakeAddr, "fake.internal.example", "/.well-known/openid-configuration", nil, http.StatusOK},
		{"metadata, rebound name", mdsAddr, "attacker.example", tokenPath, flavor, http.StatusMisdirectedRequest},
		{"metadata, its address", mdsAddr, mdsAddr, tokenPath, flavor, http.StatusOK},
		{"metadata, metadata.google.internal", mdsAddr, "metadata.google.internal", tokenPath, flavor, http.StatusOK},
		{"metadata, --allow-host", mdsAddr, "fake.internal.example", tokenPath, flavor, http.StatusOK},
	}
	for _, tt := range tests {
		code, body := hostRequest(t, http.MethodGet, tt.addr, tt.host, tt.path, tt.h)
		if code != tt.want {
			t.Errorf("%s: got %d %q; want %d", tt.name, code, body, tt.want)
		}
		if tt.want != http.StatusOK && (strings.Contains(body, "ya29") || strings.Contains(body, "issuer") || !strings.Contains(body, "--allow-host")) {
			t.Errorf("%s: got body %q; want a refusal naming --allow-host", tt.name, body)
		}
	}
}

// TestSecurityProxyCommandRefusesWebPages: `gcptoken proxy` keeps web
// pages out by default (a rebound Host gets 421, a cross-site request
// 403), names the flags that let them in, and says so at startup when
// --allow-cross-site is given.
func TestSecurityProxyCommandRefusesWebPages(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	key := saKeyFile(t, f)
	args := []string{"--target", f.URL, "--credentials", key, "--audience", f.SampleServiceURL()}
	addr, _, _ := startProxyCmd(t, newEnv(t), args...)
	path := "/sample/get_range?start=1&end=2"
	if code, body := hostRequest(t, http.MethodGet, addr, "attacker.example", path, nil); code != http.StatusMisdirectedRequest || !strings.Contains(body, "--allow-host") {
		t.Errorf("rebound Host: got %d %q; want 421 naming --allow-host", code, body)
	}
	crossSite := http.Header{"Origin": {"https://attacker.example"}, "Sec-Fetch-Site": {"cross-site"}}
	if code, body := hostRequest(t, http.MethodPost, addr, addr, path, crossSite); code != http.StatusForbidden || !strings.Contains(body, "--allow-cross-site") {
		t.Errorf("cross-site post: got %d %q; want 403 naming --allow-cross-site", code, body)
	}
	if code, body := hostRequest(t, http.MethodGet, addr, addr, path, nil); code != http.StatusOK {
		t.Errorf("own address: got %d %q; want 200", code, body)
	}

	lax, _, errb := startProxyCmd(t, newEnv(t), append(args, "--allow-cross-site", "--allow-host", "proxy.internal.example")...)
	if code, body := hostRequest(t, http.MethodGet, lax, "proxy.internal.example", path, crossSite); code != http.StatusOK {
		t.Errorf("--allow-host and --allow-cross-site: got %d %q; want 200", code, body)
	}
	if !strings.Contains(errb.String(), "WARNING: --allow-cross-site") {
		t.Errorf("stderr does not warn about --allow-cross-site:\n%s", errb.String())
	}
}

// TestSecurityMetadataServerUserAudience: `gcptoken metadata-server` over a
// user's credentials must not answer an identity request for a service
// with the user's ID token for the OAuth client; it says so at startup and
// in a 400. --allow-client-audience restores the old behaviour, loudly.
func TestSecurityMetadataServerUserAudience(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	user, _ := userFile(t, f)
	args := []string{"--credentials", user, "--project", fakegoogle.DefaultProjectID, "--service-account-email", fakegoogle.DefaultUser}
	identity := "/computeMetadata/v1/instance/service-accounts/default/identity?audience="

	addr, out, _ := startMetadataServerOutput(t, newEnv(t), args...)
	if !strings.Contains(out.String(), "cannot choose their audience") || !strings.Contains(out.String(), "--allow-client-audience") {
		t.Errorf("banner does not say identity requests for other audiences are refused:\n%s", out.String())
	}
	status, body := mdsGet(t, addr, identity+f.SampleServiceURL())
	if status != http.StatusBadRequest || strings.HasPrefix(body, "eyJ") || !strings.Contains(body, fakegoogle.DefaultClientID) {
		t.Errorf("identity for the service: got %d %q; want 400 naming the OAuth client", status, body)
	}
	if status, body := mdsGet(t, addr, identity+fakegoogle.DefaultClientID); status != http.StatusOK || !strings.HasPrefix(body, "eyJ") {
		t.Errorf("identity for the OAuth client: got %d %q; want 200 with the token", status, body)
	}

	lax, _, errb := startMetadataServerOutput(t, newEnv(t), append(args, "--allow-client-audience")...)
	if !strings.Contains(errb.String(), "WARNING: --allow-client-audience") {
		t.Errorf("stderr does not warn about --allow-client-audience:\n%s", errb.String())
	}
	if status, body := mdsGet(t, lax, identity+f.SampleServiceURL()); status != http.StatusOK || !strings.HasPrefix(body, "eyJ") {
		t.Errorf("--allow-client-audience: got %d %q; want 200 with the client's token", status, body)
	}
}
