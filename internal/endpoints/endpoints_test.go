package endpoints

import (
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestURL(t *testing.T) {
	t.Parallel()
	const def = "https://iamcredentials.googleapis.com"
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"production", nil, def},
		{"emulator", map[string]string{EnvEmulatorHost: "127.0.0.1:8086"}, "http://127.0.0.1:8086"},
		{"override wins", map[string]string{EnvEmulatorHost: "127.0.0.1:8086", EnvIAMEndpoint: "http://127.0.0.1:9/iam"}, "http://127.0.0.1:9/iam"},
		{"override alone", map[string]string{EnvIAMEndpoint: "https://iam.example"}, "https://iam.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := FromEnv(envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.URL(EnvIAMEndpoint, def)
			if err != nil || got != tt.want {
				t.Errorf("URL = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	var none *Env
	if got, _ := none.URL(EnvIAMEndpoint, def); got != def {
		t.Errorf("nil Env: URL = %q; want %q", got, def)
	}
}

func TestRewriteKeepsPathAndQuery(t *testing.T) {
	t.Parallel()
	e, err := FromEnv(envOf(map[string]string{EnvEmulatorHost: "localhost:8086"}))
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"https://oauth2.googleapis.com/token":                 "http://localhost:8086/token",
		"https://sts.googleapis.com/v1/token?x=1":             "http://localhost:8086/v1/token?x=1",
		"https://user:pw@www.googleapis.com/oauth2/v3/certs":  "http://localhost:8086/oauth2/v3/certs",
		"http://127.0.0.1:1/v1/projects/-/serviceAccounts/sa": "http://localhost:8086/v1/projects/-/serviceAccounts/sa",
	} {
		if got := e.Rewrite(in); got != want {
			t.Errorf("Rewrite(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestFromEnvRefusesMalformed(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"http://127.0.0.1:8086", "127.0.0.1", "127.0.0.1:8086/x", ":8086"} {
		_, err := FromEnv(envOf(map[string]string{EnvEmulatorHost: h}))
		if err == nil || !strings.Contains(err.Error(), EnvEmulatorHost) {
			t.Errorf("FromEnv(%q) error = %v; want one naming %s", h, err, EnvEmulatorHost)
		}
	}
	e, _ := FromEnv(envOf(map[string]string{EnvSTSEndpoint: "sts.example"}))
	if _, err := e.URL(EnvSTSEndpoint, "https://sts.googleapis.com/v1/token"); err == nil || !strings.Contains(err.Error(), EnvSTSEndpoint) {
		t.Errorf("URL with a malformed override: error = %v; want one naming %s", err, EnvSTSEndpoint)
	}
}
