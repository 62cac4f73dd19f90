package metadataserver

import (
	"strconv"
	"sync"

	"github.com/gcptoken/gcptoken/internal/promtext"
)

// metrics are the server's Prometheus metrics. Every label has a fixed,
// small set of values (endpoint names, status codes, token kinds), never a
// path, audience or scope: one series per audience, as a per-URI label
// gives, would grow without bound.
type metrics struct {
	reg          *promtext.Registry
	requests     *promtext.CounterVec   // endpoint, code
	lookups      *promtext.CounterVec   // kind, result (hit|miss)
	fetches      *promtext.CounterVec   // kind, result (ok|error)
	fetchSeconds *promtext.HistogramVec // kind
	inflight     promtext.Gauge
}

func newMetrics() *metrics {
	reg := promtext.NewRegistry()
	const ns = "gcptoken_metadataserver_"
	return &metrics{
		reg: reg,
		requests: reg.NewCounterVec(ns+"requests_total",
			"Requests by endpoint (token, identity, email, scopes, project, instance, universe, listing, root, other) and HTTP status code.",
			"endpoint", "code"),
		lookups: reg.NewCounterVec(ns+"token_cache_lookups_total",
			"Token lookups by kind (access_token, id_token) and result: hit (served from cache) or miss (waited for an upstream fetch, or failed).",
			"kind", "result"),
		fetches: reg.NewCounterVec(ns+"upstream_fetches_total",
			"Upstream token fetches (each retry counts) by kind and result (ok, error).",
			"kind", "result"),
		fetchSeconds: reg.NewHistogramVec(ns+"upstream_fetch_duration_seconds",
			"Duration of upstream token fetches by kind.",
			[]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}, "kind"),
		inflight: reg.NewGaugeVec(ns+"requests_in_flight", "Requests being served.").With(),
	}
}

// codeLabels avoids formatting the status code on every request. It is
// built on first use, not at package init: every run of the CLI links
// this package, and few of them serve.
var codeLabels = sync.OnceValue(func() *[600]string {
	var l [600]string
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return &l
})

func codeLabel(code int) string {
	if labels := codeLabels(); code >= 0 && code < len(labels) {
		return labels[code]
	}
	return strconv.Itoa(code)
}
