package gcptoken_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxLibraryModules bounds the module graph of a program that imports the
// library: cloud.google.com/go/auth alone brings 35 (the program's own
// module included); gcptoken adds itself, the AWS SDK's signer (2 modules)
// and go-jose. Vulnerability scanners and `go mod tidy` see every module in
// the graph, so the CLI and the test-heavy tools live in nested modules.
const maxLibraryModules = 40

// TestLibraryModuleGraph builds a throwaway program that imports the
// library's packages and counts the modules `go list -m all` reports for
// it, as a user's `go mod tidy` would see them.
func TestLibraryModuleGraph(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to measure the module graph: %v", err)
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/probe\n\ngo 1.26.0\n\nrequire github.com/gcptoken/gcptoken v0.0.0\n\nreplace github.com/gcptoken/gcptoken => "+root+"\n")
	write("main.go", `package main

import (
	_ "github.com/gcptoken/gcptoken/authproxy"
	_ "github.com/gcptoken/gcptoken/credentials"
	_ "github.com/gcptoken/gcptoken/idtoken"
	_ "github.com/gcptoken/gcptoken/metadataserver"
	_ "github.com/gcptoken/gcptoken/transport"
)

func main() {}
`)
	run := func(args ...string) string {
		cmd := exec.Command(goCmd, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "tidy")
	modules := strings.Fields(run("list", "-m", "-f", "{{.Path}}", "all"))
	for _, heavy := range []string{"k8s.io/", "sigs.k8s.io/", "github.com/spf13/cobra", "github.com/chromedp/",
		"github.com/google/go-containerregistry", "github.com/prometheus/", "github.com/yannh/kubeconform", "github.com/coreos/go-oidc"} {
		for _, m := range modules {
			if strings.HasPrefix(m, heavy) {
				t.Errorf("module %s is in a library user's graph; keep what needs it in a nested module", m)
			}
		}
	}
	if len(modules) > maxLibraryModules {
		t.Errorf("a program importing the library has %d modules in its graph; want at most %d:\n%s",
			len(modules), maxLibraryModules, strings.Join(modules, "\n"))
	}
	t.Logf("%d modules in a library user's graph", len(modules))
}

// TestWorkspaceKeepsLibraryVersions: the tests run in the go.work
// workspace, whose build list is the highest version any nested module
// asks for. If a nested module (the CLI, crosscheck…) raised a module that
// the library depends on, the library would be tested against other
// versions than its users build with.
func TestWorkspaceKeepsLibraryVersions(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to compare build lists: %v", err)
	}
	versions := func(gowork string) map[string]string {
		// The modules that provide a package to the library's packages or
		// their tests: what its tests really build.
		cmd := exec.Command(goCmd, "list", "-deps", "-test", "-f", "{{with .Module}}{{.Path}} {{.Version}}{{end}}", "./...")
		cmd.Env = append(os.Environ(), "GOWORK="+gowork, "GOFLAGS=", "GOTOOLCHAIN=local")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps -test ./... (GOWORK=%s): %v", gowork, err)
		}
		m := map[string]string{}
		for line := range strings.Lines(string(out)) {
			if path, version, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
				m[path] = version
			}
		}
		return m
	}
	work, err := filepath.Abs("go.work")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(work); err != nil {
		t.Fatalf("the repository's go.work: %v", err)
	}
	library, workspace := versions("off"), versions(work)
	for path, v := range library {
		if w, ok := workspace[path]; ok && w != v && path != "github.com/gcptoken/gcptoken" {
			t.Errorf("%s: the library requires %s but the workspace builds %s (a nested module raised it: lower it there)", path, v, w)
		}
	}
}
