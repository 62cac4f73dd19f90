package cli

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/jwtinfo"
)

// startMetadataServer runs `gcptoken metadata-server` in-process until the
// test ends and returns its host:port.
func startMetadataServer(t *testing.T, e env, args ...string) string {
	t.Helper()
	addr, _, _ := startMetadataServerOutput(t, e, args...)
	return addr
}

// startMetadataServerOutput is startMetadataServer that also returns the
// command's stdout and stderr so far.
func startMetadataServerOutput(t *testing.T, e env, args ...string) (addr string, out, errb *syncBuffer) {
	t.Helper()
	out, errb = &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	app := &App{Out: out, Err: errb, Getenv: func(k string) string { return e[k] }}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, app, append([]string{"metadata-server", "--listen", "127.0.0.1:0"}, args...))
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("metadata-server exited with %d: %s", code, errb.String())
		}
	})
	re := regexp.MustCompile(`listening on http://(\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], out, errb
		}
		select {
		case code := <-done:
			t.Fatalf("metadata-server exited with %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("metadata-server did not start: %s %s", out.String(), errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mdsGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetadataServerCommand(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	cfg := writeFile(t, "mds.json", []byte(`{"instance": {"name": "vm-1", "attributes": {"env": "file", "team": "a"},
		"machine_type": "c3-standard-4", "tags": ["web", "ssh"], "internal_ip": "10.2.0.7", "external_ip": "198.51.100.7",
		"licenses": ["42"], "creation_timestamp": "2024-05-06T07:08:09Z"}}`))
	addr := startMetadataServer(t, e, "--credentials", saKeyFile(t, f), "--config", cfg, "--instance-attribute", "env=flag")

	tests := []struct {
		path string
		want string
	}{
		{"/computeMetadata/v1/instance/service-accounts/default/email", fakegoogle.DefaultServiceAccount},
		{"/computeMetadata/v1/project/project-id", fakegoogle.DefaultProjectID},
		{"/computeMetadata/v1/instance/name", "vm-1"},
		{"/computeMetadata/v1/instance/attributes/env", "flag"},
		{"/computeMetadata/v1/instance/attributes/team", "a"},
		{"/computeMetadata/v1/instance/machine-type", "/machineTypes/c3-standard-4"},
		{"/computeMetadata/v1/instance/tags", `["web","ssh"]`},
		{"/computeMetadata/v1/instance/network-interfaces/0/ip", "10.2.0.7"},
		{"/computeMetadata/v1/instance/network-interfaces/0/access-configs/0/external-ip", "198.51.100.7"},
		{"/computeMetadata/v1/instance/licenses/0/id", "42"},
		{"/computeMetadata/v1/instance/service-accounts/default/token", `"access_token":"ya29.`},
		{"/healthz", "ok"},
	}
	for _, tt := range tests {
		status, body := mdsGet(t, addr, tt.path)
		if status != http.StatusOK || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s: got %d %q; want 200 containing %q", tt.path, status, body, tt.want)
		}
	}

	// gcptoken itself, as a client of the metadata server.
	e["GCE_METADATA_HOST"] = addr
	r := run(t, e, "", "print-identity-token", "--audience", f.SampleServiceURL(), "--token-format", "full")
	wantCode(t, r, 0)
	d, err := jwtinfo.Decode(strings.TrimSpace(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if d.Claims["aud"] != f.SampleServiceURL() {
		t.Errorf("got aud %v; want %s", d.Claims["aud"], f.SampleServiceURL())
	}
	r = run(t, e, "", "explain")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "metadata server") || !strings.Contains(r.stdout, fakegoogle.DefaultServiceAccount) {
		t.Errorf("explain via metadata server:\n%s", r.stdout)
	}
}

func TestMetadataServerBadInput(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	key := saKeyFile(t, f)
	user, _ := userFile(t, f)
	badCfg := writeFile(t, "bad.json", []byte(`{"instance": {"nmae": "typo"}}`))
	badTime := writeFile(t, "badtime.json", []byte(`{"instance": {"creation_timestamp": "yesterday"}}`))
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		fragments []string
	}{
		{"bad listen", []string{"metadata-server", "--listen", "nope"}, ExitUsage, []string{"--listen"}},
		{"missing config", []string{"metadata-server", "--credentials", key, "--config", filepath.Join(t.TempDir(), "none.json")}, ExitUsage, []string{"--config"}},
		{"unknown config field", []string{"metadata-server", "--credentials", key, "--config", badCfg}, ExitUsage, []string{"nmae"}},
		{"bad creation timestamp", []string{"metadata-server", "--credentials", key, "--config", badTime}, ExitUsage, []string{"creation_timestamp", "RFC 3339"}},
		{"bad log format", []string{"metadata-server", "--credentials", key, "--log-format", "xml"}, ExitUsage, []string{"--log-format"}},
		{"bad allowed host", []string{"metadata-server", "--credentials", key, "--allow-host", "mds.example:99999"}, ExitUsage, []string{"--allow-host", "mds.example:99999"}},
		{"user credentials without project", []string{"metadata-server", "--credentials", user, "--service-account-email", "u@example.com"}, ExitUsage, []string{"--project"}},
		{"token format with a key", []string{"print-identity-token", "--credentials", key, "--audience", "https://a", "--token-format", "full"}, ExitUsage, []string{"--token-format", "service_account"}},
		{"bad token format", []string{"print-identity-token", "--credentials", key, "--audience", "https://a", "--token-format", "long"}, ExitUsage, []string{"--token-format"}},
		{"licenses without full", []string{"print-identity-token", "--credentials", key, "--audience", "https://a", "--include-license"}, ExitUsage, []string{"--include-license"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, newEnv(t), "", tt.args...)
			wantCode(t, r, tt.wantCode)
			wantOneLineError(t, r, tt.fragments...)
		})
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "127.1.2.3": true, "0.0.0.0": false, "": false, "10.0.0.1": false, "example.com": false} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v; want %v", host, got, want)
		}
	}
}

func TestEmulatorMetadataServer(t *testing.T) {
	t.Parallel()
	stateDir := filepath.Join(t.TempDir(), "state")
	_, _ = startEmulatorWith(t, stateDir, "--metadata-listen", "127.0.0.1:0")
	envSh, err := os.ReadFile(filepath.Join(stateDir, "env.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`export GCE_METADATA_HOST='([^']+)'`).FindSubmatch(envSh)
	if m == nil {
		t.Fatalf("env.sh has no GCE_METADATA_HOST:\n%s", envSh)
	}
	status, body := mdsGet(t, string(m[1]), "/computeMetadata/v1/instance/service-accounts/default/token")
	if status != http.StatusOK || !strings.Contains(body, "ya29.") {
		t.Errorf("token from the emulator's metadata server: got %d %q", status, body)
	}
}
