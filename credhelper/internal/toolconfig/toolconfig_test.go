package toolconfig

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

func TestShellWord(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"/usr/local/bin/gcptoken", "/usr/local/bin/gcptoken"},
		{"--scopes=a,b", "--scopes=a,b"},
		{"", "''"},
		{"/My Apps/gcptoken", "'/My Apps/gcptoken'"},
		{"it's", `'it'\''s'`},
		{"$(rm -rf)", "'$(rm -rf)'"},
		{"credential.https://*.x.dev.helper", "'credential.https://*.x.dev.helper'"},
	}
	for _, tt := range tests {
		if got := ShellWord(tt.in); got != tt.want {
			t.Errorf("ShellWord(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
}

// TestReplace: a new file is made 0600 in a new 0700 directory without a
// backup; replacing keeps the old content in .bak.
func TestReplace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "new", "config.json")
	old, existed, err := ReadFile(path)
	if err != nil || existed || old != nil {
		t.Fatalf("ReadFile of a missing file = %q, %t, %v; want nothing, false, nil", old, existed, err)
	}
	backup, err := Replace(path, old, []byte("one"), existed)
	if err != nil || backup != "" {
		t.Fatalf("Replace of a new file = %q, %v; want no backup", backup, err)
	}
	wantFile(t, path, "one")
	if runtime.GOOS != "windows" {
		for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v, %v; want %v", p, fi.Mode().Perm(), err, want)
			}
		}
	}
	old, existed, err = ReadFile(path)
	if err != nil || !existed {
		t.Fatalf("ReadFile = %q, %t, %v", old, existed, err)
	}
	backup, err = Replace(path, old, []byte("two"), existed)
	if err != nil || backup != path+".bak" {
		t.Fatalf("Replace = %q, %v; want backup %s", backup, err, path+".bak")
	}
	wantFile(t, path, "two")
	wantFile(t, backup, "one")
}

func wantFile(t *testing.T, path, want string) {
	t.Helper()
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, []byte(want)) {
		t.Errorf("%s = %q, %v; want %q", filepath.Base(path), got, err, want)
	}
}

func TestReadFileDirectory(t *testing.T) {
	t.Parallel()
	if _, _, err := ReadFile(t.TempDir()); err == nil {
		t.Error("ReadFile of a directory succeeded; want an error")
	}
}

func TestLookPath(t *testing.T) {
	t.Parallel()
	dir, other := t.TempDir(), t.TempDir()
	name := "tool"
	if runtime.GOOS == "windows" {
		name = "tool.exe" // found through PATHEXT
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "plain"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := other + string(os.PathListSeparator) + string(os.PathListSeparator) + dir
	if got, ok := LookPath("tool", path, ""); !ok || got != filepath.Join(dir, name) {
		t.Errorf("LookPath(tool) = %q, %t; want %s", got, ok, filepath.Join(dir, name))
	}
	if got, ok := LookPath("missing", path, ""); ok {
		t.Errorf("LookPath(missing) = %q; want not found", got)
	}
	if runtime.GOOS != "windows" {
		if got, ok := LookPath("plain", path, ""); ok {
			t.Errorf("LookPath found %q, which is not executable", got)
		}
	}
}

func TestHomeAndEnv(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"HOME": "/h", "PATH": "/bin", "GIT_CONFIG_GLOBAL": "/g", "SECRET": "x"}
	getenv := func(k string) string { return vars[k] }
	if home, want := Home(getenv); home != "/h" || want != "HOME" {
		t.Errorf("Home = %q, %q; want /h, HOME", home, want)
	}
	env := Env(getenv)
	for _, kv := range []string{"PATH=/bin", "HOME=/h", "GIT_CONFIG_GLOBAL=/g"} {
		if !slices.Contains(env, kv) {
			t.Errorf("Env = %q; want %s in it", env, kv)
		}
	}
	if slices.Contains(env, "SECRET=x") {
		t.Errorf("Env = %q passes a variable git and kubectl do not need", env)
	}
	noHome := func(k string) string { return map[string]string{"USERPROFILE": `C:\Users\me`}[k] }
	home, want := Home(noHome)
	switch runtime.GOOS {
	case "windows":
		if home != `C:\Users\me` {
			t.Errorf("Home without HOME = %q; want USERPROFILE's", home)
		}
	default:
		if home != "" || want != "HOME" {
			t.Errorf("Home without HOME = %q, %q; want none, HOME", home, want)
		}
	}
}
