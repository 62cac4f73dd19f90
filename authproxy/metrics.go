package authproxy

import (
	"github.com/gcptoken/gcptoken/internal/promtext"
)

// metrics are the proxy's Prometheus metrics. Every label has a small,
// fixed set of values: never a path, host or status code beyond its class.
type metrics struct {
	reg *promtext.Registry

	requests  [len(methodLabels)][len(classLabels)]promtext.Counter // method, code class
	inflight  promtext.Gauge
	lookups   *promtext.CounterVec // result: ok, refused, unavailable, canceled
	lookupOK  promtext.Counter     // lookups{result="ok"}, for the request path
	refreshes *promtext.CounterVec // result: ok, error
	expiry    promtext.Gauge
	upstream  [2]promtext.Histogram // result: response, error
}

// Label values.
var (
	methodLabels = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
	classLabels  = [...]string{"unknown", "1xx", "2xx", "3xx", "4xx", "5xx"}
)

const (
	resultOK          = "ok"
	resultRefused     = "refused"
	resultUnavailable = "unavailable"
	resultCanceled    = "canceled"
	resultError       = "error"

	upstreamResponse = 0
	upstreamError    = 1
)

func newMetrics() *metrics {
	reg := promtext.NewRegistry()
	const ns = "gcptoken_authproxy_"
	m := &metrics{reg: reg}
	requests := reg.NewCounterVec(ns+"requests_total",
		"Proxied requests by method (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, other) and status class (1xx…5xx; 499, client went away, counts as 4xx).",
		"method", "code")
	// Create every series up front: the request path then only does an
	// array lookup, and dashboards see zeros instead of missing series.
	for i, meth := range methodLabels {
		for j, class := range classLabels {
			m.requests[i][j] = requests.With(meth, class)
		}
	}
	m.inflight = reg.NewGaugeVec(ns+"requests_in_flight",
		"Requests being served, including open WebSocket and other upgraded connections.").With()
	m.lookups = reg.NewCounterVec(ns+"token_lookups_total",
		"Token lookups on the request path by result: ok, refused (the credential or request was refused: 502), unavailable (token endpoint unreachable or failing: 503), canceled (the client went away).",
		"result")
	for _, r := range []string{resultOK, resultRefused, resultUnavailable, resultCanceled} {
		m.lookups.With(r)
	}
	m.lookupOK = m.lookups.With(resultOK)
	m.refreshes = reg.NewCounterVec(ns+"token_refreshes_total",
		"Background token refresh checks by result (ok, error). Each check serves the cached token or renews it before it expires.",
		"result")
	for _, r := range []string{resultOK, resultError} {
		m.refreshes.With(r)
	}
	m.expiry = reg.NewGaugeVec(ns+"token_expiry_timestamp_seconds",
		"Unix time at which the token last seen by the background refresher expires (0: none yet, or no expiry known).").With()
	upstream := reg.NewHistogramVec(ns+"upstream_duration_seconds",
		"Time from sending a request upstream to its response headers (result=response), or to the failure (result=error).",
		[]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}, "result")
	m.upstream[upstreamResponse] = upstream.With("response")
	m.upstream[upstreamError] = upstream.With("error")
	return m
}

func (m *metrics) request(method string, status int) promtext.Counter {
	i := len(methodLabels) - 1
	for j, meth := range methodLabels[:len(methodLabels)-1] {
		if method == meth {
			i = j
			break
		}
	}
	c := 0
	if status >= 100 && status < 600 {
		c = status / 100
	}
	return m.requests[i][c]
}
