package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startEmulator runs `gcptoken emulator` in-process until the test ends and
// returns its base URL.
func startEmulator(t *testing.T, stateDir string) (base string, stop func() string) {
	t.Helper()
	return startEmulatorWith(t, stateDir)
}

func startEmulatorWith(t *testing.T, stateDir string, extra ...string) (base string, stop func() string) {
	t.Helper()
	var out, errb syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	app := &App{Out: &out, Err: &errb, Getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	args := append([]string{"emulator", "--listen", "127.0.0.1:0", "--state-dir", stateDir, "--quiet"}, extra...)
	go func() { done <- Run(ctx, app, args) }()
	re := regexp.MustCompile(`listening on (http://\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil && strings.Contains(out.String(), "Ctrl-C") {
			base = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("emulator exited with %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator did not start: %s %s", out.String(), errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	var once sync.Once
	stop = func() string {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("emulator exited with %d: %s", code, errb.String())
			}
		})
		return out.String()
	}
	t.Cleanup(func() { stop() })
	return base, stop
}

func TestEmulatorWritesUsableFiles(t *testing.T) {
	t.Parallel()
	stateDir := filepath.Join(t.TempDir(), "state")
	base, stop := startEmulator(t, stateDir)

	wantMode(t, stateDir, 0o700)
	for _, name := range []string{"service-account.json", "authorized-user.json", "env.sh", "state.json"} {
		if _, err := os.Stat(filepath.Join(stateDir, name)); err != nil {
			t.Fatalf("emulator did not write %s: %v", name, err)
		}
		wantMode(t, filepath.Join(stateDir, name), 0o600)
	}
	envSh, err := os.ReadFile(filepath.Join(stateDir, "env.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GOOGLE_APPLICATION_CREDENTIALS=", "GCPTOKEN_EMULATOR_HOST='" + strings.TrimPrefix(base, "http://") + "'", "CLOUDSDK_AUTH_TOKEN_HOST="} {
		if !strings.Contains(string(envSh), want) {
			t.Errorf("env.sh lacks %q:\n%s", want, envSh)
		}
	}

	e := newEnv(t)
	e["GOOGLE_APPLICATION_CREDENTIALS"] = filepath.Join(stateDir, "service-account.json")
	r := run(t, e, "", "curl", "--audience", base+"/sample/get_range", base+"/sample/get_range?start=1&end=3")
	wantCode(t, r, 0)
	user := run(t, e, "", "print-access-token", "--credentials", filepath.Join(stateDir, "authorized-user.json"))
	wantCode(t, user, 0)

	// A restart on the same state keeps the key file valid.
	if out := stop(); !strings.Contains(out, "Stopped.") {
		t.Errorf("emulator did not stop cleanly: %s", out)
	}
	oldKey, err := os.ReadFile(filepath.Join(stateDir, "service-account.json"))
	if err != nil {
		t.Fatal(err)
	}
	base2, _ := startEmulator(t, stateDir)
	e2 := newEnv(t)
	keyCopy := writeFile(t, "old-key.json", []byte(strings.ReplaceAll(string(oldKey), base, base2)))
	r = run(t, e2, "", "print-access-token", "--credentials", keyCopy)
	wantCode(t, r, 0)
}

func TestDemo(t *testing.T) {
	t.Parallel()
	r := run(t, newEnv(t), "", "demo")
	wantCode(t, r, 0)
	for _, want := range []string{
		"== 1. Service-account key -> access token ==",
		"== 2. Service-account key -> ID token for the sample service ==",
		"== 3. The ID token's claims",
		"== 4. Call the protected sample service (a private Cloud Function's stand-in) ==",
		`gcptoken curl -X POST -H 'Content-Type: application/json' -d '{"start": 1, "end": 5}' URL`,
		"HTTP 200",
		"HTTP 401",
		"== 5. User credentials",
		"== 6. Impersonation",
		fakegoogle.DefaultTargetServiceAccount,
		"== 7. Workload identity federation",
		`with the federated ID token: HTTP 200 { "range": [ 1, 2, 3, 4, 5 ], "caller": "` + fakegoogle.DefaultTargetServiceAccount + `" }`,
		"== Done ==",
		"watch every request, token and grant in its console: http://127.0.0.1:8086/_gcptoken/console/",
		// The test binary is a `go build` one, in a temporary directory.
		"`make install` (or `go install ./cmd/gcptoken`) puts gcptoken on PATH",
		`gcptoken emulator wait --state-dir ./fake-google`,
		`gcptoken curl -X POST -H 'Content-Type: application/json' -d '{"start": 1, "end": 5}' "$GCPTOKEN_SAMPLE_URL"`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	if regexp.MustCompile(`ya29\.[A-Za-z0-9_.-]{20,}`).MatchString(r.stdout) {
		t.Errorf("demo printed a whole access token:\n%s", r.stdout)
	}
}
