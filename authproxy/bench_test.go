package authproxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/internal/cputime"
)

// BenchmarkProxy compares the same upstream reached directly and through
// the proxy: 50 client goroutines over real loopback connections, sharing
// one keep-alive client, each request a GET of a fixed 128-byte body, from
// an upstream that answers at once and from one that takes 10 ms. It
// reports throughput (req/s), the 99th-percentile latency (p99-ms) and, for
// the proxy, its throughput as a fraction of the direct run's
// (x-direct; the goal is >= 0.8), and the process's CPU time per request
// (cpu-µs/req). Client, proxy and upstream all run in this process, so on
// a small machine they compete for the same CPUs: when CPU-bound, the
// proxy's extra hop (one more server side and client side) bounds
// x-direct well below 1, and cpu-µs/req shows its cost directly.
func BenchmarkProxy(b *testing.B) {
	// An instant upstream makes the benchmark CPU-bound: it measures what
	// the extra hop costs. An upstream that takes 10 ms per request, like a
	// real service, shows whether the proxy limits throughput when the
	// machine is not saturated by HTTP plumbing alone.
	for _, upstream := range []struct {
		name  string
		delay time.Duration
	}{{"instant upstream", 0}, {"10ms upstream", 10 * time.Millisecond}} {
		b.Run(upstream.name, func(b *testing.B) { benchmarkProxy(b, upstream.delay) })
	}
}

func benchmarkProxy(b *testing.B, delay time.Duration) {
	body := []byte(string(make([]byte, 128)))
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if delay > 0 {
			time.Sleep(delay)
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}))
	defer up.Close()
	target, _ := url.Parse(up.URL)

	p, err := New(&Options{Target: target, Tokens: staticTokens})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()

	var directRPS float64
	b.Run("direct", func(b *testing.B) {
		directRPS = load(b, up.URL+"/bench", len(body))
	})
	b.Run("through proxy", func(b *testing.B) {
		rps := load(b, "http://"+ln.Addr().String()+"/bench", len(body))
		if directRPS > 0 {
			b.ReportMetric(rps/directRPS, "x-direct")
		}
	})
}

const benchClients = 50

// load sends b.N GETs to url from benchClients goroutines and returns the
// throughput.
func load(b *testing.B, url string, wantLen int) float64 {
	tr := &http.Transport{MaxIdleConns: 2 * benchClients, MaxIdleConnsPerHost: 2 * benchClients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	fetch := func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && (resp.StatusCode != http.StatusOK || int(n) != wantLen) {
			err = &badResponse{resp.StatusCode, n}
		}
		return err
	}
	// Open the connections before timing.
	var wg sync.WaitGroup
	for range benchClients {
		wg.Go(func() { _ = fetch() })
	}
	wg.Wait()

	var next atomic.Int64
	lat := make([][]time.Duration, benchClients)
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for w := range benchClients {
		wg.Go(func() {
			mine := make([]time.Duration, 0, b.N/benchClients+1)
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := fetch(); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			lat[w] = mine
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()

	all := slices.Concat(lat...)
	if len(all) == 0 {
		return 0
	}
	slices.Sort(all)
	p99 := all[min(len(all)-1, len(all)*99/100)]
	rps := float64(len(all)) / elapsed.Seconds()
	b.ReportMetric(rps, "req/s")
	b.ReportMetric(float64(p99)/float64(time.Millisecond), "p99-ms")
	// CPU time of the whole process (client, proxy and upstream) per
	// request: unlike req/s, it hardly depends on what else the machine is
	// running.
	b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(len(all)), "cpu-µs/req")
	return rps
}

type badResponse struct {
	status int
	n      int64
}

func (e *badResponse) Error() string {
	return "got status " + strconv.Itoa(e.status) + " with " + strconv.FormatInt(e.n, 10) + " bytes"
}

// cpuTime is the user+system CPU time this process has used.
func cpuTime() time.Duration {
	d, _ := cputime.Process()
	return d
}
