package idtoken

import (
	"testing"

	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// The default key URLs follow GCPTOKEN_EMULATOR_HOST; GCPTOKEN_CERTS_URL
// overrides Google's (not IAP's); an explicit URL wins. Not parallel:
// t.Setenv.
func TestDefaultKeysURLFollowsEnvironment(t *testing.T) {
	t.Setenv(endpoints.EnvEmulatorHost, "127.0.0.1:8086")
	t.Setenv(endpoints.EnvCertsURL, "")
	ks, err := NewKeySet(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ks.URL(), "http://127.0.0.1:8086/oauth2/v3/certs"; got != want {
		t.Errorf("NewKeySet(nil).URL() = %q; want %q", got, want)
	}
	v, err := NewIAPVerifier(&Options{Audiences: []string{"/projects/1/apps/p"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := v.keys.URL(), "http://127.0.0.1:8086/iap/verify/public_key-jwk"; got != want {
		t.Errorf("IAP key URL = %q; want %q", got, want)
	}
	t.Setenv(endpoints.EnvCertsURL, "http://127.0.0.1:9/certs")
	if ks, _ = NewKeySet(nil); ks.URL() != "http://127.0.0.1:9/certs" {
		t.Errorf("with %s: URL() = %q; want it", endpoints.EnvCertsURL, ks.URL())
	}
	if ks, _ = NewKeySet(&KeySetOptions{URL: GoogleKeysURL}); ks.URL() != GoogleKeysURL {
		t.Errorf("explicit URL: URL() = %q; want %q", ks.URL(), GoogleKeysURL)
	}
	t.Setenv(endpoints.EnvEmulatorHost, "http://127.0.0.1:8086")
	if _, err := NewKeySet(nil); err == nil {
		t.Errorf("NewKeySet with a malformed %s: no error", endpoints.EnvEmulatorHost)
	}
}
