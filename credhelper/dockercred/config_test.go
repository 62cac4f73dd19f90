package dockercred

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestConfigPath(t *testing.T) {
	t.Parallel()
	home := "USERPROFILE" // docker's home on Windows
	if runtime.GOOS != "windows" {
		home = "HOME"
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"DOCKER_CONFIG", map[string]string{"DOCKER_CONFIG": filepath.FromSlash("/d"), home: "/h"}, filepath.Join(filepath.FromSlash("/d"), "config.json"), ""},
		{"home", map[string]string{home: filepath.FromSlash("/h")}, filepath.Join(filepath.FromSlash("/h"), ".docker", "config.json"), ""},
		{"nothing", nil, "", "neither DOCKER_CONFIG nor " + home + " is set"},
	}
	for _, tt := range tests {
		got, err := ConfigPath(func(k string) string { return tt.env[k] })
		if got != tt.want || (err == nil) != (tt.wantErr == "") || err != nil && err.Error() != tt.wantErr {
			t.Errorf("%s: ConfigPath = %q, %v; want %q, %q", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestMergeHelpers(t *testing.T) {
	t.Parallel()
	existing := `{
	"auths": {"https://index.docker.io/v1/": {"auth": "c2VjcmV0"}},
	"credsStore": "desktop",
	"credHelpers": {"123.dkr.ecr.us-east-1.amazonaws.com": "ecr-login", "gcr.io": "gcloud", "us.gcr.io": "gcptoken"}
}`
	data, changed, err := MergeHelpers([]byte(existing), []string{"us.gcr.io", "gcr.io", "europe-west1-docker.pkg.dev"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"europe-west1-docker.pkg.dev", "gcr.io"}; !slices.Equal(changed, want) {
		t.Errorf("changed = %q; want %q", changed, want)
	}
	var doc struct {
		Auths       map[string]map[string]string `json:"auths"`
		CredsStore  string                       `json:"credsStore"`
		CredHelpers map[string]string            `json:"credHelpers"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	want := map[string]string{"123.dkr.ecr.us-east-1.amazonaws.com": "ecr-login", "gcr.io": HelperName, "us.gcr.io": HelperName,
		"europe-west1-docker.pkg.dev": HelperName}
	if len(doc.CredHelpers) != len(want) || doc.Auths["https://index.docker.io/v1/"]["auth"] != "c2VjcmV0" || doc.CredsStore != "desktop" {
		t.Errorf("merged config lost or gained entries:\n%s", data)
	}
	for k, v := range want {
		if doc.CredHelpers[k] != v {
			t.Errorf("credHelpers[%s] = %q; want %q", k, doc.CredHelpers[k], v)
		}
	}
	if !strings.HasPrefix(string(data), "{\n\t\"") || !strings.HasSuffix(string(data), "}\n") {
		t.Errorf("not tab-indented with a final newline, as docker writes it:\n%s", data)
	}
	for _, bad := range []struct{ in, want string }{
		{`{"auths":`, "not a docker config.json"},
		{`{"credHelpers":["gcr.io"]}`, `"credHelpers" is not an object of strings`},
	} {
		if _, _, err := MergeHelpers([]byte(bad.in), []string{"gcr.io"}); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("MergeHelpers(%s) = %v; want an error saying %q", bad.in, err, bad.want)
		}
	}
}

// TestConfigFile edits a config.json as a configure command does, and
// checks that the fake answers alike.
func TestConfigFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "docker", "config.json")
	c := &ConfigFile{Path: path}
	fake := &FakeHelperConfig{}
	regs := []string{"gcr.io", "registry.example.com:5000"}

	for _, hc := range []HelperConfig{c, fake} {
		ch, err := hc.UseHelper(regs, true)
		if err != nil || !slices.Equal(ch.Changed, regs) || !strings.Contains(string(ch.Content), `"registry.example.com:5000": "gcptoken"`) {
			t.Fatalf("%T: dry run = %+v, %v", hc, ch, err)
		}
		if hc.Routes("gcr.io") {
			t.Errorf("%T: a dry run changed the configuration", hc)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a dry run wrote the file")
	}
	for _, hc := range []HelperConfig{c, fake} {
		ch, err := hc.UseHelper(regs, false)
		if err != nil || !slices.Equal(ch.Changed, regs) || ch.Backup != "" {
			t.Fatalf("%T: first UseHelper = %+v, %v; want both changed, no backup", hc, ch, err)
		}
		for host, want := range map[string]bool{"gcr.io": true, "registry.example.com:5000": true, "registry.example.com": false, "us.gcr.io": false} {
			if got := hc.Routes(host); got != want {
				t.Errorf("%T: Routes(%s) = %t; want %t", hc, host, got, want)
			}
		}
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("config.json: %v, %v; want mode 0600", fi, err)
		}
	}
	before, _ := os.ReadFile(path)
	ch, err := c.UseHelper([]string{"gcr.io"}, false)
	if after, _ := os.ReadFile(path); err != nil || len(ch.Changed) != 0 || ch.Backup != "" || string(after) != string(before) {
		t.Errorf("UseHelper with nothing to change = %+v, %v; want no write", ch, err)
	}
	ch, err = c.UseHelper([]string{"us.gcr.io"}, false)
	if err != nil || ch.Backup != path+".bak" {
		t.Fatalf("second change = %+v, %v; want a backup", ch, err)
	}
	if bak, _ := os.ReadFile(ch.Backup); string(bak) != string(before) {
		t.Errorf("backup holds %q; want the previous file", bak)
	}
}

func TestConfigFileRefusesMalformed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"auths":`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &ConfigFile{Path: path}
	if _, err := c.UseHelper([]string{"gcr.io"}, false); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("UseHelper on a malformed file = %v; want an error naming it", err)
	}
	if c.Routes("gcr.io") {
		t.Error("Routes on a malformed file = true")
	}
	if data, _ := os.ReadFile(path); string(data) != `{"auths":` {
		t.Errorf("a failed edit changed the file to %q", data)
	}
}

func TestCheckInstalled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := CheckInstalled(dir, "", "/opt/My Tools/gcptoken"); err == nil ||
		!strings.Contains(err.Error(), HelperProgram) || !strings.Contains(err.Error(), "not on PATH") {
		t.Errorf("CheckInstalled without the helper = %v; want advice", err)
	} else if runtime.GOOS != "windows" && !strings.Contains(err.Error(), "ln -s '/opt/My Tools/gcptoken' DIR/"+HelperProgram) {
		t.Errorf("CheckInstalled = %v; want a quoted ln -s line", err)
	}
	name := HelperProgram
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := CheckInstalled(dir, "", "gcptoken"); err != nil {
		t.Errorf("CheckInstalled with the helper on PATH = %v", err)
	}
}
