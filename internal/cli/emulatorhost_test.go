package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// Under GCPTOKEN_EMULATOR_HOST alone (no per-endpoint variable) the token
// commands impersonate at the emulator and create-cred-config writes the
// emulator's STS and IAM URLs, so that other clients reading the file talk
// to the fake too.
func TestEmulatorHostInTheCLI(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	e[envEmulatorHost] = strings.TrimPrefix(f.URL, "http://")
	key, err := f.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	e["GOOGLE_APPLICATION_CREDENTIALS"] = writeFile(t, "key.json", key)
	r := run(t, e, "", "print-access-token", "--no-cache", "--impersonate-service-account", fakegoogle.DefaultTargetServiceAccount)
	wantCode(t, r, 0)

	out := writeCredConfig(t, e, "//iam.googleapis.com/"+testOIDCProvider, "--credential-source-file", filepath.Join(t.TempDir(), "subject.jwt"),
		"--service-account", fakegoogle.DefaultTargetServiceAccount)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		TokenURL string `json:"token_url"`
		ImpURL   string `json:"service_account_impersonation_url"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.TokenURL, f.URL+"/") || !strings.HasPrefix(got.ImpURL, f.URL+"/") {
		t.Errorf("token_url %q, service_account_impersonation_url %q; want the emulator's", got.TokenURL, got.ImpURL)
	}
}
