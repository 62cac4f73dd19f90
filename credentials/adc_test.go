package credentials

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// setADC points the process's Application Default Credentials at a new
// fake's service-account key, and at nothing else.
func setADC(t *testing.T) *fakegoogle.Running {
	t.Helper()
	f, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	key, err := f.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(path, key, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{envCredentials: path, envMetadataHost: "", envNoGCECheck: "true", "HOME": t.TempDir()} {
		t.Setenv(k, v)
	}
	return f
}

// The one-call helpers find ADC once and cache tokens; a new environment
// gets new credentials. Not parallel: t.Setenv.
func TestOneCallHelpers(t *testing.T) {
	f := setADC(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := AccessToken(ctx); err != nil {
				t.Error(err)
			}
			tok, err := IDToken(ctx, "https://svc.example")
			if err != nil {
				t.Error(err)
				return
			}
			if tok.Metadata["audience"] != "https://svc.example" {
				t.Errorf("ID token audience %q", tok.Metadata["audience"])
			}
		})
	}
	wg.Wait()
	if n := f.RequestCount("/token"); n != 2 {
		t.Errorf("got %d token requests for 10 access and 10 ID tokens; want 2", n)
	}
	if _, err := AccessToken(ctx, "https://www.googleapis.com/auth/devstorage.read_only"); err != nil {
		t.Fatal(err)
	}
	if n := f.RequestCount("/token"); n != 3 {
		t.Errorf("got %d token requests after another scope set; want 3", n)
	}

	other := setADC(t)
	if _, err := AccessToken(ctx); err != nil {
		t.Fatal(err)
	}
	if n := other.RequestCount("/token"); n != 1 {
		t.Errorf("after GOOGLE_APPLICATION_CREDENTIALS changed: %d requests to the new fake; want 1", n)
	}

	t.Setenv(envCredentials, filepath.Join(t.TempDir(), "missing.json"))
	if _, err := AccessToken(ctx); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("with a missing file: err = %v; want one naming it", err)
	}
}
