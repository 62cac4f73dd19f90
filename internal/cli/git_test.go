package cli

import (
	"encoding/pem"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestGitCredential(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := helperEnv(t, f)
	tests := []struct {
		name    string
		args    []string
		stdin   string
		wantOut func(out string) bool
	}{
		{name: "csr", args: []string{"get"}, stdin: "protocol=https\nhost=source.developers.google.com\n\n",
			wantOut: func(out string) bool {
				return strings.HasPrefix(out, "username=oauth2accesstoken\npassword=ya29.") && strings.Contains(out, "\npassword_expiry_utc=")
			}},
		{name: "configured host", args: []string{"get", "--hosts", "git.example.com:8443"}, stdin: "protocol=https\nhost=git.example.com:8443\n",
			wantOut: func(out string) bool { return strings.Contains(out, "password=ya29.") }},
		{name: "unknown host", args: []string{"get"}, stdin: "protocol=https\nhost=github.com\n\n",
			wantOut: func(out string) bool { return out == "" }},
		{name: "plain http", args: []string{"get"}, stdin: "protocol=http\nhost=source.developers.google.com\n\n",
			wantOut: func(out string) bool { return out == "" }},
		{name: "store", args: []string{"store"}, stdin: "protocol=https\nhost=source.developers.google.com\nusername=u\npassword=p\n\n",
			wantOut: func(out string) bool { return out == "" }},
		{name: "erase", args: []string{"erase"}, stdin: "protocol=https\nhost=source.developers.google.com\n\n",
			wantOut: func(out string) bool { return out == "" }},
		{name: "unknown action", args: []string{"capability"}, stdin: "",
			wantOut: func(out string) bool { return out == "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, e, tt.stdin, append([]string{"git-credential"}, tt.args...)...)
			wantCode(t, r, 0)
			if !tt.wantOut(r.stdout) {
				t.Errorf("got output %q", r.stdout)
			}
		})
	}

	bad := []struct {
		name      string
		args      []string
		stdin     string
		creds     string
		code      int
		fragments []string
	}{
		{name: "malformed input", args: []string{"get"}, stdin: "protocol https\n", code: ExitError, fragments: []string{"git-credential get", "want key=value"}},
		{name: "bad --hosts", args: []string{"get", "--hosts", "https://x"}, code: ExitUsage, fragments: []string{`--hosts "https://x"`}},
		{name: "missing action", code: ExitUsage, fragments: []string{"git-credential"}},
		{name: "credential failure", args: []string{"get"}, stdin: "protocol=https\nhost=source.developers.google.com\n", creds: "missing.json",
			code: ExitCredentials, fragments: []string{"git-credential get", "source.developers.google.com", "missing.json"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			e := helperEnv(t, f)
			if tt.creds != "" {
				e["GOOGLE_APPLICATION_CREDENTIALS"] = filepath.Join(e["HOME"], tt.creds)
			}
			r := run(t, e, tt.stdin, append([]string{"git-credential"}, tt.args...)...)
			wantCode(t, r, tt.code)
			wantOneLineError(t, r, tt.fragments...)
			if r.stdout != "" {
				t.Errorf("got stdout %q; want none", r.stdout)
			}
		})
	}
}

// gitServer is a smart-HTTP git server (git's own http-backend over CGI)
// behind HTTPS that accepts only Basic authentication whose password is a
// live access token of the fake.
type gitServer struct {
	*httptest.Server
	checker *tokenChecker
	mu      sync.Mutex
	users   []string
}

func newGitServer(t *testing.T, checker *tokenChecker, root string) *gitServer {
	t.Helper()
	execPath := runProcess(t, []string{"PATH=" + os.Getenv("PATH")}, "", "git", "--exec-path")
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(execPath.stdout), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	gs := &gitServer{checker: checker}
	gs.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := checker.check(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="gcptoken test"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		gs.mu.Lock()
		gs.users = append(gs.users, user)
		gs.mu.Unlock()
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(gs.Close)
	return gs
}

// TestGitEndToEnd configures git with configure-git (in a private global
// config) and runs the real git against a server that requires the token.
func TestGitEndToEnd(t *testing.T) {
	t.Parallel()
	requireTool(t, "git", "install git")
	f := ownFake(t)
	e := helperEnv(t, f)
	e["GIT_CONFIG_GLOBAL"] = filepath.Join(e["HOME"], "gitconfig")
	e["GIT_CONFIG_NOSYSTEM"] = "1"
	e["PATH"] = os.Getenv("PATH")

	// A repository with one commit, served bare.
	root := t.TempDir()
	genv := processEnv(e)
	genv = append(genv, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	work := filepath.Join(t.TempDir(), "work")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main", work},
		{"-C", work, "commit", "-q", "--allow-empty", "-m", "init"},
		{"clone", "-q", "--bare", work, filepath.Join(root, "repo.git")},
	} {
		if r := runProcess(t, genv, "", "git", args...); r.code != 0 {
			t.Fatalf("git %v: %s", args, r.stderr)
		}
	}
	checker := &tokenChecker{fake: f, scope: defaultScope}
	srv := newGitServer(t, checker, root)
	other := newGitServer(t, checker, root) // not configured
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	host := mustHost(t, srv.URL)

	// Twice: the second run must replace, not add to, the helper list.
	for range 2 {
		wantCode(t, run(t, e, "", "configure-git", "--write", "--hosts", host), 0)
	}
	cfg := runProcess(t, genv, "", "git", "config", "--global", "--get-all", "credential.https://"+host+".helper")
	helpers := strings.Split(strings.TrimRight(cfg.stdout, "\n"), "\n")
	if len(helpers) != 2 || helpers[0] != "" || !strings.Contains(helpers[1], " git-credential --hosts="+host) {
		t.Fatalf("git config has helpers %q; want the reset and gcptoken", helpers)
	}

	gitRun := append(genv, "GIT_SSL_CAINFO="+ca, "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=")
	for i := range 2 {
		r := runProcess(t, gitRun, "", "git", "ls-remote", srv.URL+"/repo.git")
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, "refs/heads/main") {
			t.Fatalf("run %d: git ls-remote printed %q (stderr %q); want refs/heads/main", i, r.stdout, r.stderr)
		}
	}
	srv.mu.Lock()
	users := append([]string(nil), srv.users...)
	srv.mu.Unlock()
	if len(users) == 0 || users[0] != "oauth2accesstoken" {
		t.Errorf("server saw users %q; want oauth2accesstoken", users)
	}
	if got := f.RequestCount("/token"); got != 1 {
		t.Errorf("two git runs made %d token requests; want 1 (the disk cache)", got)
	}

	// A host the helper was not set up for gets no token: git cannot
	// authenticate (and has no prompt to fall back to).
	seen := len(checker.tokens())
	r := runProcess(t, gitRun, "", "git", "-c", "http.sslVerify=false", "ls-remote", other.URL+"/repo.git")
	if r.code == 0 || len(checker.tokens()) != seen {
		t.Errorf("unconfigured host: code %d, %d new tokens seen; want failure and none", r.code, len(checker.tokens())-seen)
	}

	// A credential failure reaches the user on git's stderr.
	broken := append(append([]string(nil), gitRun...), "GOOGLE_APPLICATION_CREDENTIALS="+filepath.Join(t.TempDir(), "missing.json"), "GCPTOKEN_CACHE_DIR="+t.TempDir())
	r = runProcess(t, broken, "", "git", "ls-remote", srv.URL+"/repo.git")
	if r.code == 0 || !strings.Contains(r.stderr, "gcptoken: git-credential get") || !strings.Contains(r.stderr, "missing.json") {
		t.Errorf("broken credentials: code %d, stderr %q; want failure showing gcptoken's error", r.code, r.stderr)
	}
}

func mustHost(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func TestConfigureGitPrint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := run(t, e, "", "configure-git", "--hosts", "*.sourcemanager.dev,git.example.com")
	wantCode(t, r, 0)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("got %d lines; want 3 per host:\n%s", len(lines), r.stdout)
	}
	wants := []string{
		"git config --global --unset-all 'credential.https://*.sourcemanager.dev.helper' || true",
		"git config --global --add 'credential.https://*.sourcemanager.dev.helper' ''",
		"git config --global --add 'credential.https://*.sourcemanager.dev.helper' '",
	}
	for i, w := range wants {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q; want prefix %q", i, lines[i], w)
		}
	}
	// Only the non-Google host is passed to the helper.
	if !strings.HasSuffix(lines[2], " git-credential --hosts=git.example.com'") {
		t.Errorf("helper line %q; want --hosts=git.example.com only", lines[2])
	}
	if _, err := os.Stat(filepath.Join(e["HOME"], ".gitconfig")); err == nil {
		t.Error("printing wrote a git config")
	}
	bad := run(t, e, "", "configure-git", "--hosts", "source.developers.google.com/x")
	wantCode(t, bad, ExitUsage)
	wantOneLineError(t, bad, `--hosts "source.developers.google.com/x"`)
}

// TestGitEraseOfOtherTokenKeepsCache: git erasing a password the
// cache does not hold (another helper's, or an older token) leaves the
// cached token alone; only a refusal of that token drops it.
func TestGitEraseOfOtherTokenKeepsCache(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	key := saKeyFile(t, f)
	const get = "protocol=https\nhost=source.developers.google.com\n\n"
	first := run(t, e, get, "git-credential", "get", "--credentials", key)
	wantCode(t, first, 0)
	r := run(t, e, "protocol=https\nhost=source.developers.google.com\npassword=ya29.someone-else\n\n", "git-credential", "erase", "--credentials", key)
	wantCode(t, r, 0)
	again := run(t, e, get, "git-credential", "get", "--credentials", key)
	wantCode(t, again, 0)
	if again.stdout != first.stdout {
		t.Errorf("erasing another token dropped the cached one")
	}
}
