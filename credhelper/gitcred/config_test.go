package gitcred

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/credhelper/internal/tooltest"
)

// TestHelperCommand: the helper value git runs through its shell, for
// paths on each platform, with and without characters sh would split or
// expand.
func TestHelperCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		goos, exe string
		args      []string
		want      string
	}{
		{"linux", "/usr/local/bin/gcptoken", nil, "/usr/local/bin/gcptoken git-credential"},
		{"linux", "/usr/local/bin/gcptoken", []string{"--hosts=git.example.com"}, "/usr/local/bin/gcptoken git-credential --hosts=git.example.com"},
		{"darwin", "/Users/me/My Tools/gcptoken", nil, "!'/Users/me/My Tools/gcptoken' git-credential"},
		{"linux", "/opt/it's/gcptoken", nil, `!'/opt/it'\''s/gcptoken' git-credential`},
		{"windows", `C:\Users\me\bin\gcptoken.exe`, nil, "C:/Users/me/bin/gcptoken.exe git-credential"},
		{"windows", `C:\Program Files\gcptoken\gcptoken.exe`, []string{"--scopes=a b"}, "!'C:/Program Files/gcptoken/gcptoken.exe' git-credential '--scopes=a b'"},
	}
	for _, tt := range tests {
		if got := HelperCommand(tt.goos, tt.exe, tt.args); got != tt.want {
			t.Errorf("HelperCommand(%s, %q, %q) = %q; want %q", tt.goos, tt.exe, tt.args, got, tt.want)
		}
	}
}

func TestConfigScript(t *testing.T) {
	t.Parallel()
	got := ConfigScript([]string{"*.sourcemanager.dev", "git.example.com"}, "/bin/gcptoken git-credential")
	want := `git config --global --unset-all 'credential.https://*.sourcemanager.dev.helper' || true
git config --global --add 'credential.https://*.sourcemanager.dev.helper' ''
git config --global --add 'credential.https://*.sourcemanager.dev.helper' '/bin/gcptoken git-credential'
git config --global --unset-all credential.https://git.example.com.helper || true
git config --global --add credential.https://git.example.com.helper ''
git config --global --add credential.https://git.example.com.helper '/bin/gcptoken git-credential'
`
	if got != want {
		t.Errorf("ConfigScript =\n%s\nwant\n%s", got, want)
	}
}

func TestServedByDefault(t *testing.T) {
	t.Parallel()
	for pattern, want := range map[string]bool{
		"source.developers.google.com": true,
		"*.sourcemanager.dev":          true,
		"x-123-git.sourcemanager.dev":  true,
		"git.example.com":              false,
		"*.example.com":                false,
		"sourcemanager.dev":            false,
	} {
		if got := ServedByDefault(pattern); got != want {
			t.Errorf("ServedByDefault(%q) = %t; want %t", pattern, got, want)
		}
	}
}

// TestGlobalConfigWithGit configures a global git configuration that
// already names other helpers, twice, and reads it back with git: each
// host ends with the reset and the one helper, whatever was there, and the
// fake holds the same.
func TestGlobalConfigWithGit(t *testing.T) {
	t.Parallel()
	git := tooltest.Require(t, "git", "install git")
	home := t.TempDir()
	vars := map[string]string{"PATH": filepath.Dir(git), "HOME": home, "GIT_CONFIG_GLOBAL": filepath.Join(home, "gitconfig"), "GIT_CONFIG_NOSYSTEM": "1"}
	getenv := func(k string) string { return vars[k] }
	gitConfig := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(git, append([]string{"config", "--global"}, args...)...)
		cmd.Env = []string{"HOME=" + home, "GIT_CONFIG_GLOBAL=" + vars["GIT_CONFIG_GLOBAL"], "GIT_CONFIG_NOSYSTEM=1"}
		out, err := cmd.Output()
		if err != nil && !strings.Contains(strings.Join(args, " "), "--get-all") {
			t.Fatalf("git config %v: %v", args, err)
		}
		return string(out)
	}
	gitConfig("--add", HelperKey("source.developers.google.com"), "osxkeychain")
	gitConfig("--add", HelperKey("source.developers.google.com"), "/old/gcptoken git-credential")

	hosts := []string{"source.developers.google.com", "*.sourcemanager.dev", "git.example.com:8443"}
	helper := HelperCommand("linux", "/My Tools/gcptoken", []string{"--hosts=git.example.com:8443"})
	real := &GlobalConfig{Git: git, Getenv: getenv}
	fake := &FakeHelperConfig{}
	for range 2 {
		for _, c := range []HelperConfig{real, fake} {
			if err := c.ConfigureHelper(context.Background(), hosts, helper); err != nil {
				t.Fatalf("%T.ConfigureHelper: %v", c, err)
			}
		}
	}
	for _, h := range hosts {
		got := strings.Split(strings.TrimSuffix(gitConfig("--get-all", HelperKey(h)), "\n"), "\n")
		if want := []string{"", helper}; !slices.Equal(got, want) {
			t.Errorf("git lists the helpers of %s as %q; want %q", h, got, want)
		}
		if !slices.Equal(fake.Helpers[HelperKey(h)], got) {
			t.Errorf("the fake holds %q for %s; git %q", fake.Helpers[HelperKey(h)], h, got)
		}
	}
	if len(fake.Helpers) != len(hosts) {
		t.Errorf("the fake holds %d keys; want %d", len(fake.Helpers), len(hosts))
	}
}

func TestGlobalConfigGitFails(t *testing.T) {
	t.Parallel()
	g := &GlobalConfig{Git: filepath.Join(t.TempDir(), "no-git"), Getenv: func(string) string { return "" }}
	err := g.ConfigureHelper(context.Background(), []string{"h.example"}, "x")
	if err == nil || !strings.Contains(err.Error(), "git config --global --unset-all") {
		t.Errorf("ConfigureHelper with a missing git = %v; want an error naming the git command", err)
	}
}
