package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v2"
	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"
	clientauthv1beta1 "k8s.io/client-go/pkg/apis/clientauthentication/v1beta1"
)

// requireTool finds a real caller on PATH: outside CI a missing tool skips
// the test, under CI=true it fails (the crosscheck requirePeer rule).
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	skipOnWindows(t, name+" is not on PATH (under Wine, which `make wine-test` uses, only Linux builds exist, and a Windows program cannot start them)")
	msg := fmt.Sprintf("%s is not on PATH. To install: %s", name, install)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a missing tool is a failure)", msg)
	}
	t.Skip(msg)
	return ""
}

// skipOnWindows skips a test that needs a Unix tool or Unix semantics
// (docs/desktops.md lists them): under Wine, the Windows test binaries
// cannot run Linux programs, and Windows has no such tool by default.
func skipOnWindows(t *testing.T, why string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("not on Windows: " + why)
	}
}

func TestKubectlCredentialVersions(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := helperEnv(t, f)
	tests := []struct {
		name     string
		execInfo string
		decode   func(t *testing.T, out []byte) (apiVersion, token string, expiry time.Time)
		want     string
	}{
		{name: "v1", execInfo: `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`,
			want: "client.authentication.k8s.io/v1", decode: decodeV1},
		{name: "v1beta1", execInfo: `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}`,
			want: "client.authentication.k8s.io/v1beta1", decode: decodeV1beta1},
		{name: "unset", execInfo: "", want: "client.authentication.k8s.io/v1beta1", decode: decodeV1beta1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e2 := env{}
			for k, v := range e {
				e2[k] = v
			}
			e2["KUBERNETES_EXEC_INFO"] = tt.execInfo
			r := run(t, e2, "", "kubectl-credential")
			wantCode(t, r, 0)
			version, tok, expiry := tt.decode(t, []byte(r.stdout))
			if version != tt.want {
				t.Errorf("got apiVersion %q; want %q", version, tt.want)
			}
			if !strings.HasPrefix(tok, "ya29.") {
				t.Errorf("got token %q; want an access token", tok)
			}
			if d := time.Until(expiry); d < 50*time.Minute || d > 61*time.Minute {
				t.Errorf("got expirationTimestamp %v (in %v); want about an hour ahead", expiry, d)
			}
			if r.stderr != "" {
				t.Errorf("got stderr %q; want none", r.stderr)
			}
		})
	}
}

func decodeV1(t *testing.T, out []byte) (string, string, time.Time) {
	t.Helper()
	var c clientauthv1.ExecCredential
	strictJSON(t, out, &c)
	if c.Kind != "ExecCredential" || c.Status == nil || c.Status.ExpirationTimestamp == nil {
		t.Fatalf("incomplete ExecCredential %s", out)
	}
	return c.APIVersion, c.Status.Token, c.Status.ExpirationTimestamp.Time
}

func decodeV1beta1(t *testing.T, out []byte) (string, string, time.Time) {
	t.Helper()
	var c clientauthv1beta1.ExecCredential
	strictJSON(t, out, &c)
	if c.Kind != "ExecCredential" || c.Status == nil || c.Status.ExpirationTimestamp == nil {
		t.Fatalf("incomplete ExecCredential %s", out)
	}
	return c.APIVersion, c.Status.Token, c.Status.ExpirationTimestamp.Time
}

func strictJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %q with client-go's types: %v", data, err)
	}
}

// TestKubectlCredentialCacheAndIdentity: the helper shares
// print-access-token's disk cache, and the cache is keyed by identity, so a
// second account never gets the first one's token (the
// gke-gcloud-auth-plugin stale-account bug).
func TestKubectlCredentialCacheAndIdentity(t *testing.T) {
	t.Parallel()
	f := ownFake(t)
	e := helperEnv(t, f)
	e["KUBERNETES_EXEC_INFO"] = `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`
	first := run(t, e, "", "kubectl-credential")
	wantCode(t, first, 0)
	_, tok1, _ := decodeV1(t, []byte(first.stdout))
	printed := run(t, e, "", "print-access-token")
	wantCode(t, printed, 0)
	if got := strings.TrimSpace(printed.stdout); got != tok1 {
		t.Errorf("print-access-token printed %q; want the helper's cached %q", got, tok1)
	}
	again := run(t, e, "", "kubectl-credential")
	_, tok2, _ := decodeV1(t, []byte(again.stdout))
	if tok2 != tok1 || f.RequestCount("/token") != 1 {
		t.Errorf("second call: token %q and %d token requests; want the cached token and 1 request", tok2, f.RequestCount("/token"))
	}

	other := "deployer@fake-project.iam.gserviceaccount.com"
	if _, err := f.AddServiceAccount(other); err != nil {
		t.Fatal(err)
	}
	key, err := f.ServiceAccountKeyJSON(other)
	if err != nil {
		t.Fatal(err)
	}
	e["GOOGLE_APPLICATION_CREDENTIALS"] = writeFile(t, "other.json", key)
	switched := run(t, e, "", "kubectl-credential")
	wantCode(t, switched, 0)
	if _, tok3, _ := decodeV1(t, []byte(switched.stdout)); tok3 == tok1 {
		t.Error("after switching accounts the helper served the first account's cached token")
	}
}

func TestKubectlCredentialBadInput(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	tests := []struct {
		name      string
		execInfo  string
		creds     string
		wantCode  int
		fragments []string
	}{
		{name: "garbled exec info", execInfo: `{"kind":"ExecCredential",`, wantCode: ExitError,
			fragments: []string{"KUBERNETES_EXEC_INFO", "not an ExecCredential"}},
		{name: "missing apiVersion", execInfo: `{"kind":"ExecCredential","spec":{"interactive":false}}`, wantCode: ExitError,
			fragments: []string{"KUBERNETES_EXEC_INFO", `missing "apiVersion"`}},
		{name: "v1 missing interactive", execInfo: `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{}}`, wantCode: ExitError,
			fragments: []string{"KUBERNETES_EXEC_INFO", "spec.interactive"}},
		{name: "unsupported version", execInfo: `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1alpha1","spec":{}}`, wantCode: ExitError,
			fragments: []string{"KUBERNETES_EXEC_INFO", "v1alpha1"}},
		{name: "missing credentials file", creds: "does-not-exist.json", wantCode: ExitCredentials,
			fragments: []string{"GOOGLE_APPLICATION_CREDENTIALS", "does-not-exist.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := helperEnv(t, f)
			e["KUBERNETES_EXEC_INFO"] = tt.execInfo
			if tt.creds != "" {
				e["GOOGLE_APPLICATION_CREDENTIALS"] = filepath.Join(t.TempDir(), tt.creds)
			}
			r := run(t, e, "", "kubectl-credential")
			wantCode(t, r, tt.wantCode)
			wantOneLineError(t, r, tt.fragments...)
			if r.stdout != "" {
				t.Errorf("got stdout %q; want none (kubectl would parse it)", r.stdout)
			}
		})
	}
}

// TestKubectlEndToEnd writes the kubeconfig user with configure-kubectl into
// a kubeconfig that already has entries, then runs the real kubectl against
// an API server that accepts only a live token from the fake, once per
// ExecCredential version.
func TestKubectlEndToEnd(t *testing.T) {
	t.Parallel()
	kubectl := requireTool(t, "kubectl", "install kubectl (https://kubernetes.io/docs/tasks/tools/)")
	f := ownFake(t)
	e := helperEnv(t, f)
	checker := &tokenChecker{fake: f, scope: defaultScope}
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := checker.check(r); !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`)
			return
		}
		fmt.Fprintf(w, "authorized %s", r.URL.Path)
	}))
	t.Cleanup(api.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})

	kubeconfig := filepath.Join(e["HOME"], ".kube", "config")
	existing := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: %s
    certificate-authority-data: %s
contexts:
- name: ctx-v1
  context: {cluster: fake, user: someone-else}
- name: ctx-v1beta1
  context: {cluster: fake, user: someone-else}
current-context: ctx-v1
users:
- name: someone-else
  user: {token: static-token}
`, api.URL, encodeB64(ca))
	if err := os.MkdirAll(filepath.Dir(kubeconfig), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kubeconfig, []byte(existing), 0o600); err != nil {
		t.Fatal(err)
	}

	e["PATH"] = os.Getenv("PATH")
	for _, v := range []string{"v1", "v1beta1"} {
		r := run(t, e, "", "configure-kubectl", "--write", "--user", "gcp-"+v, "--context", "ctx-"+v,
			"--api-version", "client.authentication.k8s.io/"+v)
		wantCode(t, r, 0)
	}
	wantMode(t, kubeconfig, 0o600)
	if _, err := os.Stat(kubeconfig + ".bak"); err != nil {
		t.Errorf("no backup of the kubeconfig: %v", err)
	}
	data, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Clusters []struct{ Name string } `yaml:"clusters"`
		Users    []struct{ Name string } `yaml:"users"`
		Current  string                  `yaml:"current-context"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range doc.Users {
		names = append(names, u.Name)
	}
	sort.Strings(names)
	if len(doc.Clusters) != 1 || strings.Join(names, " ") != "gcp-v1 gcp-v1beta1 someone-else" || doc.Current != "ctx-v1" ||
		!strings.Contains(string(data), "token: static-token") {
		t.Errorf("merged kubeconfig lost entries:\n%s", data)
	}

	kenv := processEnv(e)
	for _, v := range []string{"v1", "v1beta1"} {
		t.Run(v, func(t *testing.T) {
			r := runProcess(t, kenv, "", kubectl, "--kubeconfig", kubeconfig, "--context", "ctx-"+v, "get", "--raw", "/api/v1/namespaces")
			wantCode(t, r, 0)
			if r.stdout != "authorized /api/v1/namespaces" {
				t.Errorf("kubectl printed %q (stderr %q); want the authorized answer", r.stdout, r.stderr)
			}
		})
	}
	if got := f.RequestCount("/token"); got != 1 {
		t.Errorf("two kubectl runs made %d token requests; want 1 (the disk cache)", got)
	}
	toks := checker.tokens()
	if len(toks) < 2 {
		t.Errorf("the API server accepted %d requests; want at least one per kubectl run", len(toks))
	}
	for _, tok := range toks {
		if tok != toks[0] {
			t.Error("the API server saw different tokens; want the cached one every time")
		}
	}

	// A credential failure reaches the user through kubectl's stderr.
	broken := processEnv(e)
	broken = append(broken, "GOOGLE_APPLICATION_CREDENTIALS="+filepath.Join(t.TempDir(), "missing.json"), "GCPTOKEN_CACHE_DIR="+t.TempDir())
	r := runProcess(t, broken, "", kubectl, "--kubeconfig", kubeconfig, "--context", "ctx-v1", "get", "--raw", "/api")
	if r.code == 0 || !strings.Contains(r.stderr, "gcptoken: ") || !strings.Contains(r.stderr, "missing.json") {
		t.Errorf("kubectl with broken credentials: code %d, stderr %q; want failure showing gcptoken's error", r.code, r.stderr)
	}
}

func TestConfigureKubectl(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	key := saKeyFile(t, f)
	t.Run("print", func(t *testing.T) {
		e := newEnv(t)
		r := run(t, e, "", "configure-kubectl", "--credentials", key, "--impersonate-service-account", "a@b.iam.gserviceaccount.com")
		wantCode(t, r, 0)
		var doc struct {
			Users []struct {
				Name string `yaml:"name"`
				User struct {
					Exec struct {
						APIVersion      string   `yaml:"apiVersion"`
						Command         string   `yaml:"command"`
						Args            []string `yaml:"args"`
						InteractiveMode string   `yaml:"interactiveMode"`
					} `yaml:"exec"`
				} `yaml:"user"`
			} `yaml:"users"`
		}
		if err := yaml.UnmarshalStrict([]byte(r.stdout), &doc); err != nil && !strings.Contains(err.Error(), "not found in type") {
			t.Fatalf("output is not YAML: %v\n%s", err, r.stdout)
		}
		if len(doc.Users) != 1 {
			t.Fatalf("got %d users; want 1:\n%s", len(doc.Users), r.stdout)
		}
		ex := doc.Users[0].User.Exec
		wantArgs := []string{"kubectl-credential", "--credentials=" + key, "--impersonate-service-account=a@b.iam.gserviceaccount.com"}
		if doc.Users[0].Name != "gcptoken" || ex.APIVersion != "client.authentication.k8s.io/v1" || !filepath.IsAbs(ex.Command) ||
			strings.Join(ex.Args, " ") != strings.Join(wantArgs, " ") || ex.InteractiveMode != "Never" {
			t.Errorf("got %+v; want user gcptoken running %v", doc.Users[0], wantArgs)
		}
		if _, err := os.Stat(filepath.Join(e["HOME"], ".kube")); err == nil {
			t.Error("printing wrote a kubeconfig")
		}
	})
	t.Run("new file from KUBECONFIG", func(t *testing.T) {
		requireTool(t, "kubectl", "install kubectl")
		e := newEnv(t)
		e["PATH"] = os.Getenv("PATH")
		path := filepath.Join(e["HOME"], "conf", "kube.yaml")
		e["KUBECONFIG"] = path + string(os.PathListSeparator) + filepath.Join(e["HOME"], "other")
		r := run(t, e, "", "configure-kubectl", "--write", "--scopes", "cloud-platform,userinfo.email")
		wantCode(t, r, 0)
		wantMode(t, path, 0o600)
		wantMode(t, filepath.Dir(path), 0o700)
		data, _ := os.ReadFile(path)
		if !strings.Contains(string(data), "kind: Config") || !strings.Contains(string(data), "- kubectl-credential\n") ||
			!strings.Contains(string(data), "- --scopes=cloud-platform,userinfo.email\n") {
			t.Errorf("new kubeconfig:\n%s", data)
		}
		// Writing again replaces the entry instead of adding another.
		wantCode(t, run(t, e, "", "configure-kubectl", "--write"), 0)
		data, _ = os.ReadFile(path)
		if n := strings.Count(string(data), "name: gcptoken"); n != 1 || strings.Contains(string(data), "--scopes") {
			t.Errorf("got %d gcptoken users after two writes, or stale args; want 1 with new args:\n%s", n, data)
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		for _, ent := range entries {
			if strings.HasSuffix(ent.Name(), ".tmp") || strings.HasSuffix(ent.Name(), ".lock") {
				t.Errorf("left %s behind", ent.Name())
			}
		}
	})
	t.Run("no kubectl", func(t *testing.T) {
		e := newEnv(t)
		e["PATH"] = t.TempDir()
		r := run(t, e, "", "configure-kubectl", "--write")
		wantCode(t, r, ExitUsage)
		wantOneLineError(t, r, "kubectl is not on PATH")
	})
	bad := []struct {
		name      string
		content   string
		args      []string
		code      int
		fragments []string
	}{
		{name: "malformed kubeconfig", content: "users: [\n", args: []string{"--write"}, code: ExitError, fragments: []string{"kubectl config set-credentials", "kubeconfig", "yaml"}},
		{name: "users not a list", content: "users: 3\n", args: []string{"--write"}, code: ExitError, fragments: []string{"kubectl config set-credentials", "users"}},
		{name: "unknown context", content: "contexts: []\n", args: []string{"--write", "--context", "nope"}, code: ExitUsage, fragments: []string{`--context "nope"`, "no such context"}},
		{name: "context without write", args: []string{"--context", "x"}, code: ExitUsage, fragments: []string{"--context needs --write"}},
		{name: "bad api version", args: []string{"--api-version", "v2"}, code: ExitUsage, fragments: []string{`--api-version "v2"`}},
		{name: "missing credentials", args: []string{"--credentials", "nope.json"}, code: ExitUsage, fragments: []string{`--credentials "nope.json"`}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if tt.content != "" {
				requireTool(t, "kubectl", "install kubectl")
			}
			e := newEnv(t)
			e["PATH"] = os.Getenv("PATH")
			path := filepath.Join(e["HOME"], "kubeconfig")
			if tt.content != "" {
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r := run(t, e, "", append([]string{"configure-kubectl", "--kubeconfig", path}, tt.args...)...)
			wantCode(t, r, tt.code)
			wantOneLineError(t, r, tt.fragments...)
			if tt.content != "" {
				if data, _ := os.ReadFile(path); string(data) != tt.content {
					t.Errorf("a failed write changed the file to %q", data)
				}
			}
			entries, _ := os.ReadDir(e["HOME"])
			if len(entries) > 1 {
				t.Errorf("a failed write left files behind: %v", entries)
			}
		})
	}
}

func encodeB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
