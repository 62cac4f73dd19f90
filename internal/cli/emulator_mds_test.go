package cli

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// TestEmulatorMetadataIdentity checks that the emulator's metadata server
// mints ID tokens shaped as Compute Engine's: format=standard (the
// default) carries no email, so a service that reads it fails here as it
// would on a VM; format=full names the VM the server describes.
func TestEmulatorMetadataIdentity(t *testing.T) {
	t.Parallel()
	stateDir := filepath.Join(t.TempDir(), "state")
	_, _ = startEmulatorWith(t, stateDir, "--metadata-listen", "127.0.0.1:0")
	envSh, err := os.ReadFile(filepath.Join(stateDir, "env.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`export GCE_METADATA_HOST='([^']+)'`).FindSubmatch(envSh)
	if m == nil {
		t.Fatalf("env.sh has no GCE_METADATA_HOST:\n%s", envSh)
	}
	addr := string(m[1])
	value := func(path string) string {
		status, body := mdsGet(t, addr, "/computeMetadata/v1/"+path)
		if status != http.StatusOK {
			t.Fatalf("%s: got status %d (%s)", path, status, body)
		}
		return body
	}
	zone := value("instance/zone")
	engine := map[string]any{
		"instance_id": value("instance/id"), "instance_name": value("instance/name"),
		"project_id": value("project/project-id"), "project_number": json.Number(value("project/numeric-project-id")),
		"zone": zone[strings.LastIndex(zone, "/")+1:],
	}
	if got := engine["project_number"]; got != json.Number(fakegoogle.DefaultProjectNumber) {
		t.Errorf("got numeric-project-id %v; want the fake's project number %s", got, fakegoogle.DefaultProjectNumber)
	}
	audience := "https://svc.example/x"
	tests := []struct {
		query    string
		keys     []string
		licenses bool
	}{
		{"", []string{"aud", "azp", "exp", "iat", "iss", "sub"}, false},
		{"&format=standard&licenses=TRUE", []string{"aud", "azp", "exp", "iat", "iss", "sub"}, false},
		{"&format=full", []string{"aud", "azp", "email", "email_verified", "exp", "google", "iat", "iss", "sub"}, false},
		{"&format=full&licenses=TRUE", []string{"aud", "azp", "email", "email_verified", "exp", "google", "iat", "iss", "sub"}, true},
	}
	for _, tt := range tests {
		claims := jwtClaims(t, value("instance/service-accounts/default/identity?audience="+url.QueryEscape(audience)+tt.query))
		if got := slices.Sorted(maps.Keys(claims)); !slices.Equal(got, tt.keys) {
			t.Errorf("%q: got claims %v; want exactly %v", tt.query, got, tt.keys)
		}
		if claims["aud"] != audience || claims["iss"] != "https://accounts.google.com" || claims["azp"] != claims["sub"] {
			t.Errorf("%q: got aud %v, iss %v, azp %v, sub %v; want the audience, Google, and azp = sub (the unique id)",
				tt.query, claims["aud"], claims["iss"], claims["azp"], claims["sub"])
		}
		google, ok := claims["google"].(map[string]any)
		if !ok {
			continue
		}
		ce, _ := google["compute_engine"].(map[string]any)
		for k, want := range engine {
			if ce[k] != want {
				t.Errorf("%q: got google.compute_engine.%s = %v (%T); want %v, as the metadata server says", tt.query, k, ce[k], ce[k], want)
			}
		}
		if _, ok := ce["instance_creation_timestamp"].(json.Number); !ok {
			t.Errorf("%q: got instance_creation_timestamp %v; want a number", tt.query, ce["instance_creation_timestamp"])
		}
		lic, has := ce["license_id"].([]any)
		if has != tt.licenses || tt.licenses && (len(lic) != 1 || lic[0] != value("instance/licenses/0/id")) {
			t.Errorf("%q: got license_id %v; want it only with licenses=TRUE, holding instance/licenses/0/id", tt.query, ce["license_id"])
		}
		if claims["email"] != fakegoogle.DefaultServiceAccount || claims["email_verified"] != true {
			t.Errorf("%q: got email %v (verified %v); want %s", tt.query, claims["email"], claims["email_verified"], fakegoogle.DefaultServiceAccount)
		}
	}
}

// jwtClaims decodes a JWT's claims (numbers as json.Number) without
// checking it.
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("got %q; want a JWT", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return claims
}
