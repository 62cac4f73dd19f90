package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// envRunAsMain makes the test binary behave as the gcptoken executable, so
// that git, kubectl and docker's client library can run it as a credential
// helper the way they run the real one (by path, by argv[0], through a
// shell), without a separate build.
const envRunAsMain = "GCPTOKEN_CLI_TEST_RUN_AS_MAIN"

func TestMain(m *testing.M) {
	// A first argument that is not a flag is a gcptoken command line
	// (go test passes only -test.* flags): it also covers a caller that
	// runs the binary without envRunAsMain, which must not start the
	// tests again recursively.
	if os.Getenv(envRunAsMain) == "1" || len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		os.Exit(Main())
	}
	os.Exit(m.Run())
}

// selfExe is the test binary, which runs as gcptoken under envRunAsMain.
func selfExe(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// processEnv is the environment of a helper process started by a real
// caller (git, kubectl, the docker client): nothing from the machine except
// PATH, plus e and envRunAsMain.
func processEnv(e env) []string {
	out := []string{envRunAsMain + "=1", "PATH=" + os.Getenv("PATH")}
	for k, v := range e {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// helperEnv is a test environment whose Application Default Credentials are
// the fake's default service-account key.
func helperEnv(t *testing.T, f *fakegoogle.Running) env {
	t.Helper()
	e := newEnv(t)
	e["GOOGLE_APPLICATION_CREDENTIALS"] = saKeyFile(t, f)
	return e
}

// tokenChecker is the protected side of a real caller's request (a
// Kubernetes API server, a git server): it accepts a request only if its
// token is a live access token of the fake, asked for with scope, and
// records the tokens it saw.
type tokenChecker struct {
	fake  *fakegoogle.Running
	scope string

	mu   sync.Mutex
	seen []string
}

// check validates the request's bearer token or Basic password with the
// fake's tokeninfo endpoint.
func (c *tokenChecker) check(r *http.Request) (user string, ok bool) {
	var tok string
	auth := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(auth, "Bearer "):
		tok = strings.TrimPrefix(auth, "Bearer ")
	case strings.HasPrefix(auth, "Basic "):
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(auth, "Basic "))
		if err != nil {
			return "", false
		}
		var found bool
		user, tok, found = strings.Cut(string(raw), ":")
		if !found {
			return "", false
		}
	default:
		return "", false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.fake.URL+"/tokeninfo?access_token="+url.QueryEscape(tok), nil)
	if err != nil {
		return "", false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var info struct {
		Scope string `json:"scope"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&info) != nil ||
		!strings.Contains(" "+info.Scope+" ", " "+c.scope+" ") {
		return "", false
	}
	c.mu.Lock()
	c.seen = append(c.seen, tok)
	c.mu.Unlock()
	return user, true
}

func (c *tokenChecker) tokens() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

// runProcess runs name with args, stdin and the environment env, and
// returns its exit code and output.
func runProcess(t *testing.T, envv []string, stdin, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = envv
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), duration: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s: %v", name, err)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
		t.Fatalf("%s %v printed a stack trace:\n%s", name, args, r.stderr)
	}
	return r
}

// wantMode checks a file's or directory's permission bits; on Windows,
// where those do not exist, a private want (nothing for group and others)
// is checked against the DACL instead (mode_windows_test.go).
func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "windows" {
		if want&0o077 == 0 {
			wantPrivateACL(t, path)
		}
		return
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v; want %v", filepath.Base(path), got, want)
	}
}
