package metadataserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkServe measures cached token serving over real loopback HTTP with
// 50 concurrent clients, against a bare net/http handler writing a fixed
// token-sized JSON body: the ratios say what the metadata server costs on
// top of net/http itself. Each sub-benchmark reports req/s and p99 latency;
// token and identity also report both as ratios to "bare handler" from the
// same run.
func BenchmarkServe(b *testing.B) {
	s, _, _ := newTestServer(b, func(o *Options) { o.Now = time.Now; o.Source = newFakeSource(time.Now) })
	bareBody := []byte(`{"access_token":"ya29.fake-0123456789abcdef","expires_in":3599,"token_type":"Bearer"}`)
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(bareBody)
	})
	var bareRPS, bareP99 float64
	for _, bc := range []struct {
		name    string
		handler http.Handler
		path    string
	}{
		{"bare handler", bare, "/"},
		{"token", s, tokenPath},
		{"identity", s, identityPath + "?audience=https://svc-abc.a.run.app&format=full"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rps, p99 := runLoad(b, bc.handler, bc.path)
			b.ReportMetric(rps, "req/s")
			b.ReportMetric(p99, "p99-µs")
			if bc.name == "bare handler" {
				bareRPS, bareP99 = rps, p99
			} else if bareRPS > 0 {
				b.ReportMetric(rps/bareRPS, "req/s-vs-bare")
				b.ReportMetric(p99/bareP99, "p99-vs-bare")
			}
		})
	}
}

// runLoad sends b.N GETs of path from 50 goroutines sharing one client and
// returns requests per second and the p99 latency in microseconds.
func runLoad(b *testing.B, h http.Handler, path string) (rps, p99us float64) {
	const clients = 50
	ts := httptest.NewServer(h)
	defer ts.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * clients, MaxIdleConnsPerHost: 2 * clients}}
	defer client.CloseIdleConnections()
	url := ts.URL + path
	fetch := func() (time.Duration, bool) {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Metadata-Flavor", "Google")
		res, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return 0, false
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Errorf("got status = %d; want 200", res.StatusCode)
			return 0, false
		}
		return time.Since(start), true
	}
	fetch() // fill the cache

	var mu sync.Mutex
	var all []time.Duration
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((clients + procs - 1) / procs)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 256)
		for pb.Next() {
			d, ok := fetch()
			if !ok {
				return
			}
			lat = append(lat, d)
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(all) == 0 {
		return 0, 0
	}
	slices.Sort(all)
	p99 := all[min(len(all)-1, len(all)*99/100)]
	return float64(len(all)) / elapsed.Seconds(), float64(p99) / float64(time.Microsecond)
}
