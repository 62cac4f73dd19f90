package cli

import (
	"log/slog"
	"net/http"
	"testing"
)

func TestLoggingClientBypassesProxyForMetadata(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GCE_METADATA_HOST": "127.0.0.1:8087"}
	getenv := func(k string) string { return env[k] }
	c := loggingClient(nil, slog.New(slog.DiscardHandler), getenv)
	tr := c.Transport.(*loggingTransport).base.(*http.Transport)
	for _, tc := range []struct {
		url          string
		wantMetadata bool
	}{
		{"http://metadata.google.internal/computeMetadata/v1/", true},
		{"http://metadata.google.internal./computeMetadata/v1/", true},
		{"http://169.254.169.254/computeMetadata/v1/", true},
		{"http://127.0.0.1:8087/computeMetadata/v1/", true},
		{"http://127.0.0.1:9999/token", false},
		{"https://oauth2.googleapis.com/token", false},
	} {
		req, err := http.NewRequest(http.MethodGet, tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := isMetadataHost(req.URL.Host, getenv); got != tc.wantMetadata {
			t.Errorf("isMetadataHost(%q) = %v; want %v", req.URL.Host, got, tc.wantMetadata)
		}
		if tc.wantMetadata {
			if u, err := tr.Proxy(req); u != nil || err != nil {
				t.Errorf("proxy for %s = %v, %v; want a direct connection", tc.url, u, err)
			}
		}
	}
}
