package credentials

import (
	"path/filepath"
	"runtime"
	"testing"
)

func TestWellKnownFile(t *testing.T) {
	t.Parallel()
	cfg, home := filepath.Join(t.TempDir(), "gcloud-config"), t.TempDir()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"CLOUDSDK_CONFIG", map[string]string{"CLOUDSDK_CONFIG": cfg}, filepath.Join(cfg, "application_default_credentials.json")},
	}
	if runtime.GOOS != "windows" { // there the default comes from APPDATA
		tests = append(tests, struct {
			name string
			env  map[string]string
			want string
		}{"home", nil, filepath.Join(home, ".config", "gcloud", "application_default_credentials.json")})
	}
	for _, tt := range tests {
		got, err := WellKnownFile(&Options{Getenv: func(k string) string { return tt.env[k] }, HomeDir: home})
		if err != nil || got != tt.want {
			t.Errorf("%s: WellKnownFile = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}
