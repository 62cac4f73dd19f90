package authproxy

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/internal/cputime"
)

// BenchmarkProxy compares the same upstream reached directly, through a
// bare httputil.ReverseProxy that adds the same Authorization header (the
// floor: what any Go reverse proxy costs), and through the Proxy: 50
// client goroutines over real loopback connections, sharing one
// keep-alive client, each request a GET of a fixed 128-byte body, from an
// upstream that answers at once and from one that takes 20 ms.
//
// Each run reports throughput (req/s), the 99th-percentile latency
// (p99-ms) and the process's CPU time per request (cpu-µs/req); proxied
// runs also report their throughput as a fraction of the direct run's
// (x-direct), the CPU their hop adds per request (hop-cpu-µs/req: their
// cpu-µs/req minus the direct run's) and, for the Proxy, that hop's CPU
// over the bare proxy's (x-bare-cpu) and over a bare proxy that pools its
// copy buffers as the Proxy does (x-pooled-cpu). The goals: x-bare-cpu at most 1
// with the instant upstream, x-direct at least 0.95 with the 20 ms one.
// Client, proxies and upstream all run in this process, so on a small
// machine they compete for the same CPUs: with the instant upstream,
// throughput is bound by CPU and x-direct is well below 1 for any proxy;
// cpu-µs/req, from getrusage, hardly depends on what else the machine
// runs.
func BenchmarkProxy(b *testing.B) {
	// An instant upstream makes the benchmark CPU-bound: it measures what
	// the extra hop costs. An upstream that takes 20 ms per request, like
	// a real service, shows whether the proxy limits throughput when the
	// machine is not saturated by HTTP plumbing alone.
	for _, upstream := range []struct {
		name  string
		delay time.Duration
	}{{"instant upstream", 0}, {"20ms upstream", 20 * time.Millisecond}} {
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
	proxyURL := serveProxy(b, p)
	bareURL := serveBare(b, target, false)
	pooledURL := serveBare(b, target, true)

	var direct, bare, pooled run
	b.Run("direct", func(b *testing.B) {
		direct = load(b, up.URL+"/bench", len(body))
	})
	b.Run("bare httputil.ReverseProxy", func(b *testing.B) {
		bare = load(b, bareURL+"/bench", len(body))
		bare.reportHop(b, direct)
	})
	b.Run("bare httputil.ReverseProxy with BufferPool", func(b *testing.B) {
		pooled = load(b, pooledURL+"/bench", len(body))
		pooled.reportHop(b, direct)
	})
	b.Run("through proxy", func(b *testing.B) {
		r := load(b, proxyURL+"/bench", len(body))
		hop := r.reportHop(b, direct)
		if bareHop := bare.cpuPerReq - direct.cpuPerReq; bareHop > 0 && direct.n > 0 {
			b.ReportMetric(hop/bareHop, "x-bare-cpu")
		}
		if pooledHop := pooled.cpuPerReq - direct.cpuPerReq; pooledHop > 0 && direct.n > 0 {
			b.ReportMetric(hop/pooledHop, "x-pooled-cpu")
		}
	})
}

// serveProxy serves p on loopback with Serve, as the CLI does, until the
// benchmark ends.
func serveProxy(b *testing.B, p *Proxy) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

// serveBare serves the floor: a bare httputil.ReverseProxy that sets the
// same Authorization header, with a transport that keeps as many idle
// connections as the Proxy's (the default two per host would make it
// redial all the time under 50 clients). With pooled, it also reuses its
// copy buffers as the Proxy does (without, ReverseProxy allocates 32 KiB
// per request): the floor for what the Proxy adds to ReverseProxy.
func serveBare(b *testing.B, target *url.URL, pooled bool) string {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 256
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set("Authorization", "Bearer secret-token")
		},
		Transport: tr,
	}
	if pooled {
		rp.BufferPool = bufferPool{}
	}
	srv := httptest.NewServer(rp)
	b.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	return srv.URL
}

// run is what one load run measured.
type run struct {
	n         int
	rps       float64
	cpuPerReq float64 // µs
}

// reportHop reports what a proxied run adds to the direct one: its
// throughput as a fraction of direct's and the CPU its hop costs per
// request, which it returns.
func (r run) reportHop(b *testing.B, direct run) float64 {
	if direct.n == 0 || r.n == 0 {
		return 0
	}
	b.ReportMetric(r.rps/direct.rps, "x-direct")
	hop := r.cpuPerReq - direct.cpuPerReq
	b.ReportMetric(hop, "hop-cpu-µs/req")
	return hop
}

const benchClients = 50

// load sends b.N GETs to url from benchClients goroutines and reports
// and returns what it measured.
func load(b *testing.B, url string, wantLen int) run {
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
		return run{}
	}
	slices.Sort(all)
	p99 := all[min(len(all)-1, len(all)*99/100)]
	rps := float64(len(all)) / elapsed.Seconds()
	b.ReportMetric(rps, "req/s")
	b.ReportMetric(float64(p99)/float64(time.Millisecond), "p99-ms")
	// CPU time of the whole process (client, proxy and upstream) per
	// request: unlike req/s, it hardly depends on what else the machine is
	// running.
	cpuPerReq := float64(cpu) / float64(time.Microsecond) / float64(len(all))
	b.ReportMetric(cpuPerReq, "cpu-µs/req")
	return run{n: len(all), rps: rps, cpuPerReq: cpuPerReq}
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

// cannedTransport answers every request at once with the same small body,
// without a network.
type cannedTransport struct{ body []byte }

func (t cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain"}, "Content-Length": {strconv.Itoa(len(t.body))}},
		Body:          io.NopCloser(bytes.NewReader(t.body)),
		ContentLength: int64(len(t.body)),
		Request:       r,
	}, nil
}

// BenchmarkProxyHandler measures the request path alone: ServeHTTP with
// an upstream transport that answers at once, no sockets, for a bare
// httputil.ReverseProxy that adds the same header and pools its buffers
// alike, for the Proxy, and for the Proxy with the access log that
// `gcptoken proxy` writes by default (slog's text handler, here to
// /dev/null). The differences are what the Proxy adds per request
// (browser guards, token lookup, metrics, Location handling) and what one
// log line costs.
func BenchmarkProxyHandler(b *testing.B) {
	target, _ := url.Parse("http://upstream.test")
	tr := cannedTransport{body: bytes.Repeat([]byte("a"), 128)}
	p, err := New(&Options{Target: target, Tokens: staticTokens, Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	bare := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set("Authorization", "Bearer secret-token")
		},
		Transport:  tr,
		BufferPool: bufferPool{},
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devNull.Close()
	logged, err := New(&Options{Target: target, Tokens: staticTokens, Transport: tr, Logger: slog.New(slog.NewTextHandler(devNull, nil))})
	if err != nil {
		b.Fatal(err)
	}
	for _, h := range []struct {
		name string
		h    http.Handler
	}{{"bare httputil.ReverseProxy with BufferPool", bare}, {"Proxy", p}, {"Proxy with access log", logged}} {
		b.Run(h.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/bench", nil)
				r.RemoteAddr = "127.0.0.1:50000"
				w := httptest.NewRecorder()
				h.h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
