package gcloudconfig

import (
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The expected values are what Python's configparser (gcloud's parser)
// returns for the same text.
func TestParseProperties(t *testing.T) {
	tests := []struct {
		name string
		text string
		want map[string]string
	}{
		{"as gcloud writes it", "[core]\naccount = a@b.c\nproject = p1\n",
			map[string]string{"core/account": "a@b.c", "core/project": "p1"}},
		{"colon and two sections", "[core]\naccount: a@b.c\n[auth]\nimpersonate_service_account = x@y.iam.gserviceaccount.com, z@y.iam.gserviceaccount.com\n",
			map[string]string{"core/account": "a@b.c", "auth/impersonate_service_account": "x@y.iam.gserviceaccount.com, z@y.iam.gserviceaccount.com"}},
		{"names fold to lower case", "[core]\nAccount = a@b.c\n", map[string]string{"core/account": "a@b.c"}},
		{"comments", "# c\n; c\n[core]\n  # indented comment\naccount = a@b.c\n", map[string]string{"core/account": "a@b.c"}},
		{"continuation", "[core]\naccount = a@b.c\n  more\n", map[string]string{"core/account": "a@b.c\nmore"}},
		{"split at the first delimiter", "[auth]\ntoken_host = http://127.0.0.1:8/token\n",
			map[string]string{"auth/token_host": "http://127.0.0.1:8/token"}},
		{"percent escape", "[billing]\nquota_project = a%%b\n", map[string]string{"billing/quota_project": "a%b"}},
		{"CRLF and BOM", "\ufeff[core]\r\naccount = a@b.c\r\n", map[string]string{"core/account": "a@b.c"}},
		{"empty", "", map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProperties([]byte(tt.text))
			if err != nil {
				t.Fatalf("parseProperties: %v", err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("got %q; want %q", got, tt.want)
			}
		})
	}
}

func TestParsePropertiesErrors(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"option before a section", "account = a@b.c\n", `line 1: "account" comes before any [section] header`},
		{"not an option", "[core]\njust words\n", "line 2: neither a [section] header nor a name = value line"},
		{"bad header", "[core\n", "line 1: malformed section header"},
		{"binary", "[core]\naccount = \xff\n", "is not UTF-8 text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseProperties([]byte(tt.text))
			if err == nil || err.Error() != tt.want {
				t.Errorf("got error %v; want %q", err, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "configurations", "config_default"), "[core]\naccount = default@example.com\n")
	writeFile(t, filepath.Join(dir, "configurations", "config_work"), "[core]\naccount = work@example.com\nproject = work-project\n")
	other := t.TempDir()
	writeFile(t, filepath.Join(other, "active_config"), "work\n")
	writeFile(t, filepath.Join(other, "configurations", "config_work"), "[core]\naccount = other@example.com\n")
	broken := t.TempDir()
	writeFile(t, filepath.Join(broken, "active_config"), "../../etc")

	tests := []struct {
		name        string
		dir         string
		env         map[string]string
		wantName    string
		wantAccount string
		wantFrom    string
	}{
		{"no active_config: default", dir, nil, "default", "default@example.com", `core/account in configuration "default"`},
		{"CLOUDSDK_ACTIVE_CONFIG_NAME", dir, map[string]string{EnvActiveConfig: "work"}, "work", "work@example.com", `core/account in configuration "work"`},
		{"active_config file", other, nil, "work", "other@example.com", `core/account in configuration "work"`},
		{"CLOUDSDK_CORE_ACCOUNT wins", dir, map[string]string{"CLOUDSDK_CORE_ACCOUNT": "env@example.com"}, "default", "env@example.com", "CLOUDSDK_CORE_ACCOUNT"},
		{"NONE has no properties", dir, map[string]string{EnvActiveConfig: "NONE"}, "NONE", "", ""},
		{"invalid active_config is ignored, as gcloud does", broken, nil, "default", "", ""},
		{"missing directory", filepath.Join(dir, "nope"), nil, "default", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(t.Context(), tt.dir, envOf(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Name != tt.wantName {
				t.Errorf("got Name %q; want %q", c.Name, tt.wantName)
			}
			v, from := c.Get("core", "account")
			if v != tt.wantAccount || from != tt.wantFrom {
				t.Errorf("got core/account %q from %q; want %q from %q", v, from, tt.wantAccount, tt.wantFrom)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "configurations", "config_default"), "account = x\n")
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"path in CLOUDSDK_ACTIVE_CONFIG_NAME", map[string]string{EnvActiveConfig: "../x"}, `CLOUDSDK_ACTIVE_CONFIG_NAME="../x" is not a gcloud configuration name`},
		{"broken properties file", nil, `config_default": line 1: "account" comes before any [section] header`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(t.Context(), dir, envOf(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v; want one containing %q", err, tt.want)
			}
		})
	}
}

func TestDir(t *testing.T) {
	if d, _ := Dir(envOf(map[string]string{EnvConfigDir: "/x/gcloud"}), "/home/u"); d != "/x/gcloud" {
		t.Errorf("got %q; want $CLOUDSDK_CONFIG", d)
	}
	env, want := envOf(nil), filepath.Join("/home/u", ".config", "gcloud")
	if runtime.GOOS == "windows" {
		env, want = envOf(map[string]string{"APPDATA": `C:\Users\u\AppData\Roaming`}), `C:\Users\u\AppData\Roaming\gcloud`
	}
	if d, why := Dir(env, "/home/u"); d != want {
		t.Errorf("got %q (%s); want %q", d, why, want)
	}
}
