package crosscheck_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/authproxy"
)

// parsePrometheus checks text with Prometheus's own parser, which shares no
// code with gcptoken's hand-written writer (internal/promtext), and returns
// the metric family names.
func parsePrometheus(t *testing.T, what, text string) map[string]bool {
	t.Helper()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%s: Prometheus's parser rejects the metrics: %v\n%s", what, err, text)
	}
	names := map[string]bool{}
	for name := range fams {
		names[name] = true
	}
	return names
}

// TestPrometheusParsesServerMetrics scrapes /metrics of the auth proxy and
// of the metadata server after real traffic, and has Prometheus parse them.
func TestPrometheusParsesServerMetrics(t *testing.T) {
	t.Run("authproxy", func(t *testing.T) {
		upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
		t.Cleanup(upstream.Close)
		target, _ := url.Parse(upstream.URL)
		tokens := gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) {
			return &gcptoken.Token{Value: "ya29.crosscheck", Kind: gcptoken.IDToken, Expiry: time.Now().Add(time.Hour)}, nil
		})
		p, err := authproxy.New(&authproxy.Options{Target: target, Tokens: tokens})
		if err != nil {
			t.Fatal(err)
		}
		rr := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
		p.ServeHTTP(rr, req)
		if rr.Code != http.StatusOK {
			t.Fatalf("proxied request: status %d, body %q", rr.Code, rr.Body)
		}
		rr = httptest.NewRecorder()
		p.OpsHandler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/metrics", nil))
		names := parsePrometheus(t, "authproxy", rr.Body.String())
		if !names["gcptoken_authproxy_token_expiry_timestamp_seconds"] {
			t.Errorf("authproxy metrics lack gcptoken_authproxy_token_expiry_timestamp_seconds: %v", names)
		}
	})
	t.Run("metadataserver", func(t *testing.T) {
		m := newMDSFixture(t)
		get := func(path string) string {
			req, _ := http.NewRequest(http.MethodGet, "http://"+m.host+path, nil)
			req.Header.Set("Metadata-Flavor", "Google")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d, body %q", path, resp.StatusCode, body)
			}
			return string(body)
		}
		get("/computeMetadata/v1/instance/service-accounts/default/token")
		names := parsePrometheus(t, "metadataserver", get("/metrics"))
		if !names["gcptoken_metadataserver_requests_total"] {
			t.Errorf("metadata server metrics lack gcptoken_metadataserver_requests_total: %v", names)
		}
	})
}
