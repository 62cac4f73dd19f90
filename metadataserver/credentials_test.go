package metadataserver

import (
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/credentials"
)

// Credentials that were not loaded fail New, which asks the Source for the
// default account's provider, rather than the first request.
func TestFromCredentialsNotLoaded(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]*credentials.Credentials{"nil": nil, "zero": {}} {
		_, err := New(&Options{Source: FromCredentials(c), ServiceAccountEmail: "sa@p.iam.gserviceaccount.com", ProjectID: "p"})
		if err == nil || !strings.Contains(err.Error(), "must come from Detect") {
			t.Errorf("%s: New = %v; want an error saying where Credentials come from", name, err)
		}
	}
}
