// Package fakegoogletest connects a fake Google (package fakegoogle) to
// gcptoken's client packages in tests: Verifier checks ID tokens against
// the fake's keys, and SetADC points a test's environment at the fake so
// that code calling credentials.Detect, credentials.AccessToken,
// idtoken.NewClient or idtoken.Validate, unchanged, talks to it.
//
// It is a package of its own so that fakegoogle never imports package
// idtoken: the fake checks tokens with its own code, and a bug in the
// verifier it exists to test cannot hide on both sides.
//
//	func TestHandler(t *testing.T) {
//		fake, err := fakegoogle.Start("127.0.0.1:0", nil)
//		...
//		fakegoogletest.SetADC(t, fake)
//		v := fakegoogletest.Verifier(t, fake, "https://my-service.example")
//		tok, _ := fake.MintIDToken(fakegoogle.DefaultServiceAccount, "https://my-service.example")
//		...
//	}
package fakegoogletest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/idtoken"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// Fake is what the helpers use of a fake Google: a *fakegoogle.Server, or
// the *fakegoogle.Running that fakegoogle.Start returns.
type Fake interface {
	BaseURL() string
	CertsURL() string
	ServiceAccountKeyJSON(email string) ([]byte, error)
}

// Verifier returns a Verifier that accepts ID tokens signed by fake (its
// keys fetched from fake.CertsURL()) for audience, checking everything a
// Verifier of Google's tokens checks.
func Verifier(t testing.TB, fake Fake, audience string) *idtoken.Verifier {
	t.Helper()
	v, err := idtoken.NewVerifier(&idtoken.Options{Audiences: []string{audience}, KeysURL: fake.CertsURL()})
	if err != nil {
		t.Fatalf("fakegoogletest: Verifier: %v", err)
	}
	return v
}

// SetADC makes the fake's service account (fakegoogle's
// DefaultServiceAccount, whose key's token_uri is the fake) the
// Application Default Credentials of the test's process, and the fake
// every Google endpoint that gcptoken's library calls:
//
//   - GOOGLE_APPLICATION_CREDENTIALS names the key, written to t.TempDir();
//   - GCPTOKEN_EMULATOR_HOST names the fake, so impersonation,
//     downscoping, key fetches (idtoken.Validate) and tokeninfo go to it,
//     and the per-endpoint GCPTOKEN_* overrides are cleared;
//   - GOOGLE_CLOUD_PROJECT is the key's project, GOOGLE_CLOUD_QUOTA_PROJECT
//     is cleared, CLOUDSDK_CONFIG is an empty directory (no gcloud
//     credentials), and GCE_METADATA_HOST names the fake too, so that
//     nothing probes 169.254.169.254.
//
// The variables are set with t.Setenv, restored when the test ends: the
// test and its parents must not be parallel.
func SetADC(t testing.TB, fake Fake) {
	t.Helper()
	key, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatalf("fakegoogletest: SetADC: %v", err)
	}
	path := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(path, key, 0o600); err != nil {
		t.Fatalf("fakegoogletest: SetADC: %v", err)
	}
	host := strings.TrimPrefix(fake.BaseURL(), "http://")
	for _, kv := range [][2]string{
		{"GOOGLE_APPLICATION_CREDENTIALS", path},
		{endpoints.EnvEmulatorHost, host},
		{endpoints.EnvIAMEndpoint, ""}, {endpoints.EnvSTSEndpoint, ""},
		{endpoints.EnvCertsURL, ""}, {endpoints.EnvTokenInfoURL, ""},
		{"GOOGLE_CLOUD_PROJECT", fakegoogle.DefaultProjectID},
		{"GOOGLE_CLOUD_QUOTA_PROJECT", ""},
		{"CLOUDSDK_CONFIG", t.TempDir()},
		{"GCE_METADATA_HOST", host},
	} {
		t.Setenv(kv[0], kv[1])
	}
}
