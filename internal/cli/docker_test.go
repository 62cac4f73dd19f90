package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/gcptoken/gcptoken/credhelper/dockercred"
)

// helperProgram runs the helper the way docker's client library runs it,
// with a controlled environment (client.NewShellProgramFunc would inherit
// the machine's).
type helperProgram struct{ cmd *exec.Cmd }

func (p *helperProgram) Output() ([]byte, error) { return p.cmd.Output() }
func (p *helperProgram) Input(in io.Reader)      { p.cmd.Stdin = in }

func programFunc(path string, envv []string) client.ProgramFunc {
	return func(args ...string) client.Program {
		c := exec.Command(path, args...)
		c.Env = envv
		return &helperProgram{cmd: c}
	}
}

// dockerHelperLink links the test binary as docker-credential-gcptoken, so
// the argv[0] dispatch is what runs. On Windows, where symbolic links need
// privileges, it is a copy named
// docker-credential-gcptoken.exe, as the README tells users to make.
func dockerHelperLink(t *testing.T) string {
	t.Helper()
	link := filepath.Join(t.TempDir(), dockercred.HelperProgram)
	if runtime.GOOS != "windows" {
		if err := os.Symlink(selfExe(t), link); err != nil {
			t.Fatal(err)
		}
		return link
	}
	// A copy, not a hard link: the test binary is running, and Windows
	// does not delete a running program's file under any of its names.
	data, err := os.ReadFile(selfExe(t))
	if err != nil {
		t.Fatal(err)
	}
	link += ".exe"
	if err := os.WriteFile(link, data, 0o700); err != nil {
		t.Fatal(err)
	}
	return link
}

func TestDockerHelperWithClient(t *testing.T) {
	t.Parallel()
	f := ownFake(t)
	e := helperEnv(t, f)
	e["DOCKER_CONFIG"] = filepath.Join(e["HOME"], "docker")
	if err := os.MkdirAll(e["DOCKER_CONFIG"], 0o700); err != nil {
		t.Fatal(err)
	}
	// A private registry routed to gcptoken in docker's own config is
	// served; one routed elsewhere is not.
	cfg := `{"credHelpers":{"registry.example.com:5000":"gcptoken","other.example.com":"ecr-login"}}`
	if err := os.WriteFile(filepath.Join(e["DOCKER_CONFIG"], "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	prog := programFunc(dockerHelperLink(t), processEnv(e))
	checker := &tokenChecker{fake: f, scope: defaultScope}

	var first string
	for _, server := range []string{"https://gcr.io", "us-docker.pkg.dev", "https://europe-west1-docker.pkg.dev/v2/", "docker.us-east1.rep.pkg.dev", "registry.example.com:5000"} {
		t.Run("get "+server, func(t *testing.T) {
			c, err := client.Get(prog, server)
			if err != nil {
				t.Fatalf("client.Get(%q): %v", server, err)
			}
			if c.ServerURL != server || c.Username != "oauth2accesstoken" {
				t.Errorf("got %+v; want ServerURL %q, Username oauth2accesstoken", c, server)
			}
			// The secret is a live access token, and the cached one.
			if _, ok := checker.check(basicRequest(c.Username, c.Secret)); !ok {
				t.Errorf("secret is not a live access token")
			}
			if first == "" {
				first = c.Secret
			} else if c.Secret != first {
				t.Error("a second get minted another token instead of using the disk cache")
			}
		})
	}
	if got := f.RequestCount("/token"); got != 1 {
		t.Errorf("%d token requests for five gets; want 1", got)
	}
	for _, server := range []string{"https://index.docker.io/v1/", "other.example.com", "evil.gcr.io.example.com"} {
		t.Run("not found "+server, func(t *testing.T) {
			_, err := client.Get(prog, server)
			if !credentials.IsErrCredentialsNotFound(err) {
				t.Errorf("client.Get(%q) = %v; want credentials not found", server, err)
			}
		})
	}
	t.Run("store erase list", func(t *testing.T) {
		if err := client.Store(prog, &credentials.Credentials{ServerURL: "gcr.io", Username: "oauth2accesstoken", Secret: "x"}); err != nil {
			t.Errorf("store: %v", err)
		}
		if err := client.Erase(prog, "gcr.io"); err != nil {
			t.Errorf("erase: %v", err)
		}
		list, err := client.List(prog)
		if err != nil || list["gcr.io"] != "oauth2accesstoken" {
			t.Errorf("list = %v, %v; want gcr.io", list, err)
		}
		// store did not stop get from minting.
		if c, err := client.Get(prog, "gcr.io"); err != nil || c.Secret == "x" {
			t.Errorf("get after store = %+v, %v; want a minted token", c, err)
		}
	})
}

func basicRequest(user, pass string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v2/", nil)
	r.SetBasicAuth(user, pass)
	return r
}

// TestDockerHelperErrors checks the error format docker expects: the
// message on stdout and exit status 1.
func TestDockerHelperErrors(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	link := dockerHelperLink(t)
	tests := []struct {
		name      string
		envMod    func(e env)
		args      []string
		stdin     string
		wantOut   string
		wantInErr string
	}{
		{name: "unknown host", args: []string{"get"}, stdin: "https://index.docker.io/v1/", wantOut: "credentials not found in native keychain\n"},
		{name: "empty stdin", args: []string{"get"}, stdin: "", wantOut: "no credentials server URL\n", wantInErr: "no credentials server URL"},
		{name: "malformed store", args: []string{"store"}, stdin: "{", wantOut: "unexpected EOF\n", wantInErr: "unexpected EOF"},
		{name: "unknown action", args: []string{"frob"}, wantOut: "unknown action \"frob\": want get, store, erase, list or version\n", wantInErr: "frob"},
		{name: "credential failure", args: []string{"get"}, stdin: "gcr.io",
			envMod:    func(e env) { e["GOOGLE_APPLICATION_CREDENTIALS"] = filepath.Join(e["HOME"], "missing.json") },
			wantInErr: "missing.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := helperEnv(t, f)
			if tt.envMod != nil {
				tt.envMod(e)
			}
			r := runProcess(t, processEnv(e), tt.stdin, link, tt.args...)
			wantCode(t, r, 1)
			if tt.wantOut != "" && r.stdout != tt.wantOut {
				t.Errorf("got stdout %q; want %q", r.stdout, tt.wantOut)
			}
			if strings.Count(r.stdout, "\n") != 1 {
				t.Errorf("got stdout %q; want one line", r.stdout)
			}
			if tt.wantInErr == "" && r.stderr != "" {
				t.Errorf("got stderr %q for not-found; want none", r.stderr)
			}
			if tt.wantInErr != "" && !strings.Contains(r.stdout, tt.wantInErr) {
				t.Errorf("stdout %q does not mention %q", r.stdout, tt.wantInErr)
			}
		})
	}
	// The client library sees a failure that is not "not found".
	e := helperEnv(t, f)
	e["GOOGLE_APPLICATION_CREDENTIALS"] = filepath.Join(e["HOME"], "missing.json")
	_, err := client.Get(programFunc(link, processEnv(e)), "gcr.io")
	if err == nil || credentials.IsErrCredentialsNotFound(err) || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("client.Get with broken credentials = %v; want an error naming the file", err)
	}
	// Run as `gcptoken docker-credential` too, and with --version.
	r := runProcess(t, processEnv(e), "", selfExe(t), "docker-credential", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "docker-credential-gcptoken ") {
		t.Errorf("docker-credential version: code %d, %q", r.code, r.stdout)
	}
	r = runProcess(t, processEnv(e), "", link, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "docker-credential-gcptoken ") {
		t.Errorf("docker-credential-gcptoken --version: code %d, %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestConfigureDocker(t *testing.T) {
	t.Parallel()
	existing := `{
	"auths": {"https://index.docker.io/v1/": {"auth": "c2VjcmV0"}},
	"credsStore": "desktop",
	"credHelpers": {"123.dkr.ecr.us-east-1.amazonaws.com": "ecr-login", "gcr.io": "gcloud"},
	"proxies": {"default": {"httpProxy": "http://proxy:3128"}}
}`
	t.Run("merge", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		dir := filepath.Join(e["HOME"], "dockercfg")
		e["DOCKER_CONFIG"] = dir
		path := filepath.Join(dir, "config.json")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(existing), 0o644); err != nil {
			t.Fatal(err)
		}
		r := run(t, e, "", "configure-docker", "--registries", "gcr.io,US-docker.pkg.dev")
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, "gcr.io, us-docker.pkg.dev") {
			t.Errorf("got %q; want the changed registries named", r.stdout)
		}
		if !regexp.MustCompile(`docker-credential-gcptoken(\.exe)? is not on PATH`).MatchString(r.stderr) {
			t.Errorf("got stderr %q; want the PATH warning", r.stderr)
		}
		var doc struct {
			Auths       map[string]map[string]string `json:"auths"`
			CredsStore  string                       `json:"credsStore"`
			CredHelpers map[string]string            `json:"credHelpers"`
			Proxies     map[string]any               `json:"proxies"`
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("config.json is no longer JSON: %v\n%s", err, data)
		}
		want := map[string]string{"123.dkr.ecr.us-east-1.amazonaws.com": "ecr-login", "gcr.io": "gcptoken", "us-docker.pkg.dev": "gcptoken"}
		if len(doc.CredHelpers) != len(want) {
			t.Errorf("got credHelpers %v; want %v", doc.CredHelpers, want)
		}
		for k, v := range want {
			if doc.CredHelpers[k] != v {
				t.Errorf("credHelpers[%s] = %q; want %q", k, doc.CredHelpers[k], v)
			}
		}
		if doc.Auths["https://index.docker.io/v1/"]["auth"] != "c2VjcmV0" || doc.CredsStore != "desktop" || doc.Proxies == nil {
			t.Errorf("other entries lost:\n%s", data)
		}
		wantMode(t, path, 0o600)
		if bak, err := os.ReadFile(path + ".bak"); err != nil || string(bak) != existing {
			t.Errorf("backup = %q, %v; want the previous file", bak, err)
		}
		wantMode(t, path+".bak", 0o600)

		// Again: nothing to change, file untouched.
		before, _ := os.ReadFile(path)
		e["PATH"] = filepath.Dir(dockerHelperLink(t))
		r = run(t, e, "", "configure-docker", "--registries", "gcr.io,us-docker.pkg.dev")
		wantCode(t, r, 0)
		if after, _ := os.ReadFile(path); string(after) != string(before) || !strings.Contains(r.stdout, "already") {
			t.Errorf("second run: %q; file changed: %t", r.stdout, string(after) != string(before))
		}
		if r.stderr != "" {
			t.Errorf("got stderr %q with the helper on PATH; want none", r.stderr)
		}
	})
	t.Run("new file with defaults", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		r := run(t, e, "", "configure-docker")
		wantCode(t, r, 0)
		path := filepath.Join(e["HOME"], ".docker", "config.json")
		wantMode(t, path, 0o600)
		wantMode(t, filepath.Dir(path), 0o700)
		data, _ := os.ReadFile(path)
		for _, h := range dockercred.DefaultRegistries {
			if !strings.Contains(string(data), `"`+h+`": "gcptoken"`) {
				t.Errorf("config.json lacks %s:\n%s", h, data)
			}
		}
		if _, err := os.Stat(path + ".bak"); err == nil {
			t.Error("a backup was made of a file that did not exist")
		}
	})
	t.Run("dry run", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		r := run(t, e, "", "configure-docker", "--dry-run", "--registries", "europe-west1-docker.pkg.dev")
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, `"europe-west1-docker.pkg.dev": "gcptoken"`) {
			t.Errorf("got %q", r.stdout)
		}
		if _, err := os.Stat(filepath.Join(e["HOME"], ".docker")); err == nil {
			t.Error("--dry-run wrote the config")
		}
	})
	bad := []struct {
		name      string
		content   string
		args      []string
		code      int
		fragments []string
	}{
		{name: "scheme", args: []string{"--registries", "https://gcr.io"}, code: ExitUsage, fragments: []string{`--registries "https://gcr.io"`, "without scheme"}},
		{name: "wildcard", args: []string{"--registries", "*.gcr.io"}, code: ExitUsage, fragments: []string{"wildcards are not allowed"}},
		{name: "junk host", args: []string{"--registries", "a b"}, code: ExitUsage, fragments: []string{`"a b"`, "not a host name"}},
		{name: "malformed config", content: `{"auths":`, code: ExitError, fragments: []string{"config.json", "not a docker config.json"}},
		{name: "credHelpers wrong type", content: `{"credHelpers":["gcr.io"]}`, code: ExitError, fragments: []string{`"credHelpers" is not an object`}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e["DOCKER_CONFIG"] = e["HOME"]
			path := filepath.Join(e["HOME"], "config.json")
			if tt.content != "" {
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r := run(t, e, "", append([]string{"configure-docker"}, tt.args...)...)
			wantCode(t, r, tt.code)
			wantOneLineError(t, r, tt.fragments...)
			data, _ := os.ReadFile(path)
			if string(data) != tt.content {
				t.Errorf("failed run changed config.json to %q", data)
			}
		})
	}
}

func TestMainArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"/usr/local/bin/gcptoken", "print-access-token"}, "print-access-token"},
		{[]string{"/home/u/bin/docker-credential-gcptoken", "get"}, "docker-credential get"},
		{[]string{"C:/bin/docker-credential-gcptoken.exe", "list"}, "docker-credential list"},
		{[]string{"docker-credential-gcptoken", "--version"}, "docker-credential version"},
		{[]string{"docker-credential-gcloud", "get"}, "get"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := strings.Join(mainArgs(tt.argv), " "); got != tt.want {
			t.Errorf("mainArgs(%q) = %q; want %q", tt.argv, got, tt.want)
		}
	}
}
