package transport_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/transport"
)

// A Transport literal has no tokens and no policy: it refuses every request
// with an error saying how to make one, and sends nothing.
func TestZeroTransport(t *testing.T) {
	t.Parallel()
	req, _ := http.NewRequest(http.MethodGet, "https://storage.googleapis.com/b", nil)
	resp, err := (&transport.Transport{}).RoundTrip(req)
	if err == nil || !strings.Contains(err.Error(), "must be made with NewTransport") {
		t.Fatalf("RoundTrip = %v, %v; want an error naming NewTransport", resp, err)
	}
}
