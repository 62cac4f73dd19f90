// Tests of the Prometheus text writer, checked with Prometheus's own parser
// (github.com/prometheus/common/expfmt). They live here, not beside
// internal/promtext, so that the parser stays out of the root module's
// dependencies.

package crosscheck_test

import (
	"io"
	"maps"
	"math"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gcptoken/gcptoken/internal/promtext"
)

// parse checks the output with Prometheus's own text parser.
func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("expfmt rejects the output: %v\n%s", err, text)
	}
	return fams
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func TestWriteToParses(t *testing.T) {
	t.Parallel()
	r := promtext.NewRegistry()
	reqs := r.NewCounterVec("app_requests_total", "Requests.\nBy \\ code.", "endpoint", "code")
	inflight := r.NewGaugeVec("app_in_flight", "In flight.")
	lat := r.NewHistogramVec("app_latency_seconds", "Latency.", []float64{0.01, 0.1, 1}, "kind")

	reqs.With("token", "200").Inc()
	reqs.With("token", "200").Add(2)
	reqs.With(`we"ird\path`+"\n", "404").Inc()
	inflight.With().Add(3)
	inflight.With().Add(-1)
	for _, x := range []float64{0.005, 0.01, 0.5, 7} {
		lat.With("access_token").Observe(x)
	}
	lat.With("id_token") // a series with no observations

	var b strings.Builder
	n, err := r.WriteTo(&b)
	if err != nil || n != int64(b.Len()) {
		t.Fatalf("WriteTo = %d, %v; want %d, nil", n, err, b.Len())
	}
	text := b.String()
	fams := parse(t, text)

	tests := []struct {
		name, family string
		labels       map[string]string
		check        func(*dto.Metric) (got, want float64)
	}{
		{"counter", "app_requests_total", map[string]string{"endpoint": "token", "code": "200"},
			func(m *dto.Metric) (float64, float64) { return m.GetCounter().GetValue(), 3 }},
		{"escaped label", "app_requests_total", map[string]string{"endpoint": `we"ird\path` + "\n", "code": "404"},
			func(m *dto.Metric) (float64, float64) { return m.GetCounter().GetValue(), 1 }},
		{"gauge", "app_in_flight", map[string]string{},
			func(m *dto.Metric) (float64, float64) { return m.GetGauge().GetValue(), 2 }},
		{"histogram count", "app_latency_seconds", map[string]string{"kind": "access_token"},
			func(m *dto.Metric) (float64, float64) { return float64(m.GetHistogram().GetSampleCount()), 4 }},
		{"histogram sum", "app_latency_seconds", map[string]string{"kind": "access_token"},
			func(m *dto.Metric) (float64, float64) { return m.GetHistogram().GetSampleSum(), 7.515 }},
		{"bucket le=0.01 is inclusive", "app_latency_seconds", map[string]string{"kind": "access_token"},
			func(m *dto.Metric) (float64, float64) {
				return float64(m.GetHistogram().GetBucket()[0].GetCumulativeCount()), 2
			}},
		{"bucket le=1", "app_latency_seconds", map[string]string{"kind": "access_token"},
			func(m *dto.Metric) (float64, float64) {
				return float64(m.GetHistogram().GetBucket()[2].GetCumulativeCount()), 3
			}},
		{"empty histogram", "app_latency_seconds", map[string]string{"kind": "id_token"},
			func(m *dto.Metric) (float64, float64) { return float64(m.GetHistogram().GetSampleCount()), 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fams[tt.family]
			if f == nil {
				t.Fatalf("family %s missing from\n%s", tt.family, text)
			}
			for _, m := range f.GetMetric() {
				if maps.Equal(labelsOf(m), tt.labels) {
					if got, want := tt.check(m); math.Abs(got-want) > 1e-9 {
						t.Errorf("got value = %v; want %v", got, want)
					}
					return
				}
			}
			t.Fatalf("no series %v in\n%s", tt.labels, text)
		})
	}
	if got, want := fams["app_requests_total"].GetHelp(), "Requests.\nBy \\ code."; got != want {
		t.Errorf("got help = %q; want %q", got, want)
	}
}

func TestWriteToFormat(t *testing.T) {
	t.Parallel()
	r := promtext.NewRegistry()
	r.NewCounterVec("b_total", "B.", "x").With("2").Inc()
	r.NewCounterVec("b_total_other", "B2.", "x") // no series yet
	h := r.NewHistogramVec("a_seconds", "A.", []float64{0.5})
	h.With().Observe(1)
	r.NewCounterVec("b_total_other2", "C.", "x").With("1").Inc()

	var b strings.Builder
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP a_seconds A.
# TYPE a_seconds histogram
a_seconds_bucket{le="0.5"} 0
a_seconds_bucket{le="+Inf"} 1
a_seconds_sum 1
a_seconds_count 1
# HELP b_total B.
# TYPE b_total counter
b_total{x="2"} 1
# HELP b_total_other B2.
# TYPE b_total_other counter
# HELP b_total_other2 C.
# TYPE b_total_other2 counter
b_total_other2{x="1"} 1
`
	if got := b.String(); got != want {
		t.Errorf("got output = %q; want %q", got, want)
	}
	parse(t, b.String())
}

func TestHandler(t *testing.T) {
	t.Parallel()
	r := promtext.NewRegistry()
	r.NewGaugeVec("g", "G.").With().Set(1.5)
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if got, want := rec.Header().Get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8"; got != want {
		t.Errorf("got Content-Type = %q; want %q", got, want)
	}
	body, _ := io.ReadAll(rec.Body)
	if g := parse(t, string(body))["g"]; g.GetMetric()[0].GetGauge().GetValue() != 1.5 {
		t.Errorf("got gauge = %v; want 1.5", g.GetMetric()[0].GetGauge().GetValue())
	}
}

func TestConcurrentUpdates(t *testing.T) {
	t.Parallel()
	r := promtext.NewRegistry()
	c := r.NewCounterVec("c_total", "C.", "k")
	h := r.NewHistogramVec("h", "H.", []float64{1, 2}, "k")
	const workers, each = 8, 1000
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := []string{"a", "b"}[i%2]
			for range each {
				c.With(k).Inc()
				h.With(k).Observe(1.5)
			}
		}()
	}
	// Scrape while writers run: must stay parseable (and race-free).
	for range 5 {
		var b strings.Builder
		_, _ = r.WriteTo(&b)
		parse(t, b.String())
	}
	wg.Wait()
	var b strings.Builder
	_, _ = r.WriteTo(&b)
	fams := parse(t, b.String())
	var total float64
	for _, m := range fams["c_total"].GetMetric() {
		total += m.GetCounter().GetValue()
	}
	if total != workers*each {
		t.Errorf("got total = %v; want %v", total, workers*each)
	}
	for _, m := range fams["h"].GetMetric() {
		if got, want := m.GetHistogram().GetSampleSum(), 1.5*workers*each/2; got != want {
			t.Errorf("got sum = %v; want %v", got, want)
		}
	}
}

func TestPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    func(r *promtext.Registry)
	}{
		{"bad name", func(r *promtext.Registry) { r.NewCounterVec("bad-name", "x") }},
		{"bad label", func(r *promtext.Registry) { r.NewCounterVec("ok", "x", "bad-label") }},
		{"reserved le", func(r *promtext.Registry) { r.NewHistogramVec("ok", "x", []float64{1}, "le") }},
		{"duplicate", func(r *promtext.Registry) { r.NewCounterVec("dup", "x"); r.NewGaugeVec("dup", "x") }},
		{"label count", func(r *promtext.Registry) { r.NewCounterVec("ok", "x", "a").With("1", "2") }},
		{"unsorted buckets", func(r *promtext.Registry) { r.NewHistogramVec("ok", "x", []float64{2, 1}) }},
		{"negative counter", func(r *promtext.Registry) { r.NewCounterVec("ok", "x").With().Add(-1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Errorf("got no panic; want one")
				}
			}()
			tt.f(promtext.NewRegistry())
		})
	}
}

func BenchmarkCounterWith(b *testing.B) {
	c := promtext.NewRegistry().NewCounterVec("c_total", "C.", "endpoint", "code")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.With("token", "200").Inc()
		}
	})
}
