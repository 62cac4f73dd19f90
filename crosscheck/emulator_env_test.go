package crosscheck_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/cli"
)

// lockedBuffer is an io.Writer safe for the emulator's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startEmulator runs `gcptoken emulator` in process with args and returns
// its state directory once it serves, and its log.
func startEmulator(t *testing.T, args ...string) (string, *lockedBuffer) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	var out lockedBuffer
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	app := &cli.App{Out: &out, Err: logs, Getenv: func(string) string { return "" }, Now: time.Now}
	go func() {
		done <- cli.Run(ctx, app, append([]string{"emulator", "--listen", "127.0.0.1:0", "--state-dir", dir}, args...))
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("emulator exited with %d: %s", code, logs)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "Ctrl-C"); {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("emulator exited with %d: %s", code, logs)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator did not start: %s %s", out.String(), logs)
		}
	}
	return dir, logs
}

// TestGcloudEmulatorEnvAWS follows the README as a gcloud user would:
// start `gcptoken emulator --https-proxy --metadata-listen`, source its
// env.sh, and sign gcloud in with the AWS external_account file it wrote.
// gcloud sends every request through its proxy property, the loopback
// instance-metadata requests of the AWS file included; the proxy answers
// them from the fake.
func TestGcloudEmulatorEnvAWS(t *testing.T) {
	p := requirePeer(t, gcloudPeer())
	dir, logs := startEmulator(t, "--https-proxy", "127.0.0.1:0", "--metadata-listen", "127.0.0.1:0")
	home := t.TempDir()
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + home, "LANG=C.UTF-8",
		"CLOUDSDK_CONFIG=" + filepath.Join(home, "gcloud"), "CLOUDSDK_CORE_DISABLE_PROMPTS=1",
		"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1", "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
		"STATE=" + dir, "GCLOUD=" + p.path,
	}
	script := `. "$STATE/env.sh" &&
"$GCLOUD" auth login --cred-file="$STATE/external-account-aws.json" --verbosity=error >&2 &&
"$GCLOUD" auth print-access-token --verbosity=error`
	tok := strings.TrimSpace(string(run(t, dir, env, nil, "sh", "-c", script)))

	envSh, err := os.ReadFile(filepath.Join(dir, "env.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`export GCPTOKEN_EMULATOR_URL='([^']+)'`).FindSubmatch(envSh)
	if m == nil {
		t.Fatalf("env.sh has no GCPTOKEN_EMULATOR_URL:\n%s", envSh)
	}
	resp, err := http.Get(string(m[1]) + "/tokeninfo?access_token=" + url.QueryEscape(tok))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("tokeninfo of gcloud's token: %d %v %v", resp.StatusCode, info, err)
	}
	if info["email"] != fakegoogle.DefaultTargetServiceAccount {
		t.Errorf("gcloud's token is for %q; want the AWS file's target %s", info["email"], fakegoogle.DefaultTargetServiceAccount)
	}
	for _, want := range []string{"googlehosts: fake by address", "/latest/meta-data/iam/security-credentials"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("emulator log has no %q: gcloud's instance-metadata requests did not come through the proxy", want)
		}
	}
}
