package credentials

import (
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/gcptoken/gcptoken"
)

// TestSecurityUniverseDomainIsAHostName: endpoints are derived from a
// credential's universe domain ("https://iamcredentials." + universe), so
// a credential file or a metadata server that names a "universe" with user
// info, a path or a port ("googleapis.com@attacker.example") would send
// impersonation, STS and generateIdToken calls, each carrying a bearer
// token, to a host of its choosing. Such values are refused: the file is
// invalid, the metadata server's answer is not believed.
func TestSecurityUniverseDomainIsAHostName(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"googleapis.com@attacker.example", "attacker.example/x", "attacker.example:443", "GoogleAPIs.com", "localhost"} {
		f := saFile(t, "")
		f["universe_domain"] = u
		c, err := FromJSON(mustJSON(t, f), isolated(t, nil))
		if err == nil {
			t.Errorf("universe_domain %q: loaded, with endpoints %q; want the file refused", u, c.TokenEndpoints())
			continue
		}
		if !errors.Is(err, gcptoken.ErrInvalidCredentials) {
			t.Errorf("universe_domain %q: got %v; want an invalid-credentials error", u, err)
		}
		wantErrContains(t, err, "universe_domain")
	}

	host := fakeMetadata(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == universePath {
			io.WriteString(w, "googleapis.com@attacker.example")
			return
		}
		http.NotFound(w, r)
	})
	c, err := Detect(t.Context(), isolated(t, map[string]string{envMetadataHost: host}))
	if err != nil {
		t.Fatal(err)
	}
	if c.UniverseDomain != DefaultUniverseDomain {
		t.Errorf("metadata server's universe %q was believed; want %q", c.UniverseDomain, DefaultUniverseDomain)
	}
}
