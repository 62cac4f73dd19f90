package kubeexec

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/credhelper/internal/tooltest"
)

func TestUserYAML(t *testing.T) {
	t.Parallel()
	u := &User{Name: "gcp", Command: `C:\My Tools\gcptoken.exe`, Args: []string{"kubectl-credential", `--scopes=a,"b"`}, APIVersion: APIVersionV1}
	want := `users:
- name: "gcp"
  user:
    exec:
      apiVersion: "client.authentication.k8s.io/v1"
      command: "C:\\My Tools\\gcptoken.exe"
      args:
      - "kubectl-credential"
      - "--scopes=a,\"b\""
      interactiveMode: Never
      provideClusterInfo: false
`
	if got := u.YAML(); got != want {
		t.Errorf("YAML =\n%s\nwant\n%s", got, want)
	}
}

func TestKubeconfigPath(t *testing.T) {
	t.Parallel()
	sep := string(os.PathListSeparator)
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	home := filepath.FromSlash("/home/me")
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"KUBECONFIG": sep + "a.yaml" + sep + "b.yaml", "HOME": home}, abs("a.yaml")},
		{map[string]string{"HOME": home}, filepath.Join(home, ".kube", "config")},
	}
	for _, tt := range tests {
		if got, err := KubeconfigPath(func(k string) string { return tt.env[k] }); err != nil || got != tt.want {
			t.Errorf("KubeconfigPath(%v) = %q, %v; want %q", tt.env, got, err, tt.want)
		}
	}
	if runtime.GOOS != "windows" {
		if _, err := KubeconfigPath(func(string) string { return "" }); err == nil || err.Error() != "HOME is not set" {
			t.Errorf("KubeconfigPath without HOME = %v; want HOME is not set", err)
		}
	}
}

// kubeDoc is what `kubectl config view -o json` prints, in part.
type kubeDoc struct {
	Users []struct {
		Name string `json:"name"`
		User struct {
			Token string `json:"token"`
			Exec  *struct {
				APIVersion      string   `json:"apiVersion"`
				Command         string   `json:"command"`
				Args            []string `json:"args"`
				InteractiveMode string   `json:"interactiveMode"`
			} `json:"exec"`
		} `json:"user"`
	} `json:"users"`
	Contexts []struct {
		Name    string `json:"name"`
		Context struct {
			User string `json:"user"`
		} `json:"context"`
	} `json:"contexts"`
	CurrentContext string `json:"current-context"`
}

func kubectlView(t *testing.T, kubectl, path string) kubeDoc {
	t.Helper()
	out, err := exec.Command(kubectl, "config", "view", "--raw", "--kubeconfig", path, "-o", "json").Output()
	if err != nil {
		t.Fatalf("kubectl config view: %v", err)
	}
	var d kubeDoc
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("kubectl config view: %v\n%s", err, out)
	}
	return d
}

// TestKubectlConfig has kubectl edit a kubeconfig with other entries:
// a user whose arguments hold commas, set twice, and a context pointed at
// it; every other entry stays, and the fake ends up alike.
func TestKubectlConfig(t *testing.T) {
	t.Parallel()
	kubectl := tooltest.Require(t, "kubectl", "install kubectl (https://kubernetes.io/docs/tasks/tools/)")
	dir := t.TempDir()
	path := filepath.Join(dir, "kube", "config")
	const existing = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: dev
  context: {cluster: c, user: someone-else}
- name: gke_p_r.1_prod
  context: {cluster: c, user: someone-else}
current-context: dev
users:
- name: someone-else
  user: {token: static-token}
`
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(existing), 0o600); err != nil {
		t.Fatal(err)
	}
	kc := &KubectlConfig{Path: path, Kubectl: kubectl, Getenv: func(k string) string { return map[string]string{"HOME": dir}[k] }}
	fake := &FakeKubeconfig{Contexts: map[string]string{"dev": "someone-else", "gke_p_r.1_prod": "someone-else"}}
	u := &User{Name: "gcp", Command: "/opt/gcptoken", Args: []string{"kubectl-credential", "--scopes=a,b"}, APIVersion: APIVersionV1beta1}
	for _, c := range []Kubeconfig{kc, fake} {
		if _, err := c.SetUser(context.Background(), &User{Name: "gcp", Command: "/old", APIVersion: APIVersionV1}, ""); err != nil {
			t.Fatalf("%T: %v", c, err)
		}
		for _, ctxName := range []string{"dev", "gke_p_r.1_prod"} {
			backup, err := c.SetUser(context.Background(), u, ctxName)
			if err != nil {
				t.Fatalf("%T: SetUser(%s): %v", c, ctxName, err)
			}
			if _, real := c.(*KubectlConfig); real && backup != path+".bak" {
				t.Errorf("backup %q; want %s", backup, path+".bak")
			}
		}
	}
	d := kubectlView(t, kubectl, path)
	var names []string
	for _, du := range d.Users {
		names = append(names, du.Name)
		if du.Name == "gcp" {
			ex := du.User.Exec
			if ex == nil || ex.Command != u.Command || !slices.Equal(ex.Args, u.Args) || ex.APIVersion != u.APIVersion || ex.InteractiveMode != "Never" {
				t.Errorf("user gcp = %+v; want %+v", ex, u)
			}
			if got := fake.Users["gcp"]; got.Command != u.Command || !slices.Equal(got.Args, u.Args) {
				t.Errorf("the fake holds %+v; want %+v", got, u)
			}
		} else if du.User.Token != "static-token" {
			t.Errorf("user %s lost its token", du.Name)
		}
	}
	if slices.Sort(names); !slices.Equal(names, []string{"gcp", "someone-else"}) || d.CurrentContext != "dev" {
		t.Errorf("users %q, current context %q; want gcp and someone-else, dev", names, d.CurrentContext)
	}
	for _, c := range d.Contexts {
		if c.Context.User != "gcp" || fake.Contexts[c.Name] != "gcp" {
			t.Errorf("context %s uses %q (fake: %q); want gcp", c.Name, c.Context.User, fake.Contexts[c.Name])
		}
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("kubeconfig: %v, %v; want mode 0600", fi, err)
		}
	}
	wantOnly(t, filepath.Dir(path), "config", "config.bak")
}

// wantOnly fails if dir holds other files than names (a copy left behind).
func wantOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q; want %q", dir, got, names)
	}
}

func TestKubectlConfigErrors(t *testing.T) {
	t.Parallel()
	kubectl := tooltest.Require(t, "kubectl", "install kubectl (https://kubernetes.io/docs/tasks/tools/)")
	u := &User{Name: "gcp", Command: "/opt/gcptoken", APIVersion: APIVersionV1}
	tests := []struct {
		name    string
		content string
		context string
		check   func(error) bool
	}{
		{"unknown context", "contexts: []\n", "nope", func(err error) bool {
			var nc *NoContextError
			return errors.As(err, &nc) && nc.Context == "nope"
		}},
		{"malformed", "users: [\n", "", func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "kubectl config set-credentials") && !strings.Contains(err.Error(), ".tmp")
		}},
		{"users not a list", "users: 3\n", "", func(err error) bool { return err != nil && strings.Contains(err.Error(), "users") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "kubeconfig")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := (&KubectlConfig{Path: path, Kubectl: kubectl}).SetUser(context.Background(), u, tt.context)
			if !tt.check(err) {
				t.Errorf("SetUser = %v", err)
			}
			if data, _ := os.ReadFile(path); string(data) != tt.content {
				t.Errorf("a failed edit changed the file to %q", data)
			}
			wantOnly(t, dir, "kubeconfig")
		})
	}
	var nc *NoContextError
	if _, err := (&FakeKubeconfig{}).SetUser(context.Background(), u, "nope"); !errors.As(err, &nc) {
		t.Errorf("fake SetUser with an unknown context = %v; want a *NoContextError", err)
	}
}

func TestKubectlConfigNoKubectl(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	kc := &KubectlConfig{Path: path, Getenv: func(k string) string { return map[string]string{"PATH": t.TempDir()}[k] }}
	if _, err := kc.SetUser(context.Background(), &User{Name: "gcp", Command: "/x", APIVersion: APIVersionV1}, ""); !errors.Is(err, ErrNoKubectl) {
		t.Errorf("SetUser without kubectl = %v; want ErrNoKubectl", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("SetUser without kubectl wrote the file")
	}
}

func TestUserValidate(t *testing.T) {
	t.Parallel()
	for _, u := range []User{
		{Name: " ", Command: "/x", APIVersion: APIVersionV1},
		{Name: "a\nb", Command: "/x", APIVersion: APIVersionV1},
		{Name: "a", APIVersion: APIVersionV1},
		{Name: "a", Command: "/x", APIVersion: "client.authentication.k8s.io/v1alpha1"},
	} {
		if _, err := (&FakeKubeconfig{}).SetUser(context.Background(), &u, ""); err == nil {
			t.Errorf("SetUser(%+v) succeeded; want an error", u)
		}
	}
}
