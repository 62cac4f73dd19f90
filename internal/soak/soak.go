// Package soak load-tests gcptoken's two servers — the metadata server and
// the authenticating proxy — while the fake Google behind them misbehaves:
// many concurrent clients for a fixed time, a share of upstream token
// requests failing and some answered only after a latency spike. It reports
// what a client saw (requests, errors, latency percentiles) and what the
// upstream saw (token requests), plus the process's resident memory.
//
// Tokens are given a short lifetime so that the servers refresh several
// times during a run, each refresh facing the injected faults: the claim
// under test is that a client never sees an error while a valid token
// exists, and that the servers do not stampede the token endpoint.
//
// `make soak` runs the full form (cmd/soak); the package test runs a short
// one in CI.
package soak

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/authproxy"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/metadataserver"
)

// Config is one soak run. Zero fields take the defaults in brackets.
type Config struct {
	// Duration is how long each server is loaded [60s].
	Duration time.Duration
	// Clients is the number of concurrent clients, each sending requests
	// back to back [200].
	Clients int
	// ErrorRate is the share of upstream token requests that fail with
	// 503 [0.2].
	ErrorRate float64
	// Spike is the added latency of a latency spike [500ms], and
	// SpikeRate the share of upstream token requests that get one [0.2].
	Spike     time.Duration
	SpikeRate float64
	// TokenLifetime is the lifetime of the fake's tokens [20s]; the
	// servers refresh 15s before expiry and never serve a token with less
	// than 5s left, so they refresh every few seconds.
	TokenLifetime time.Duration
	// Seed seeds the fault injection [1].
	Seed uint64
}

func (c *Config) withDefaults() Config {
	o := *c
	if o.Duration <= 0 {
		o.Duration = 60 * time.Second
	}
	if o.Clients <= 0 {
		o.Clients = 200
	}
	if o.ErrorRate == 0 {
		o.ErrorRate = 0.2
	}
	if o.Spike == 0 {
		o.Spike = 500 * time.Millisecond
	}
	if o.SpikeRate == 0 {
		o.SpikeRate = 0.2
	}
	if o.TokenLifetime == 0 {
		o.TokenLifetime = 20 * time.Second
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Cache windows for the short-lived tokens.
const (
	refreshBefore = 15 * time.Second
	minRemaining  = 5 * time.Second
)

// Report is what one server did under load.
type Report struct {
	Server   string
	Duration time.Duration
	Clients  int
	// Requests is how many client requests completed; Errors how many of
	// them got no token (a transport error or a non-200 answer).
	Requests, Errors int64
	// FirstError is one error, for the record.
	FirstError string
	// P50, P99 and Max are client-observed latencies.
	P50, P99, Max time.Duration
	// UpstreamCalls is how many token requests reached the fake, and
	// UpstreamFailures how many of those it failed on purpose.
	UpstreamCalls, UpstreamFailures int
	// RSSStartKiB and RSSEndKiB are this process's resident memory (which
	// includes the fake and the clients) before and after the run.
	RSSStartKiB, RSSEndKiB int64
}

func (r *Report) String() string {
	return fmt.Sprintf("%-16s %4d clients %6s: %8d requests (%7.0f/s), %d errors, p50 %v, p99 %v, max %v, upstream token calls %d (%d failed on purpose), RSS %d→%d MiB",
		r.Server, r.Clients, r.Duration, r.Requests, float64(r.Requests)/r.Duration.Seconds(), r.Errors,
		r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond),
		r.UpstreamCalls, r.UpstreamFailures, r.RSSStartKiB>>10, r.RSSEndKiB>>10)
}

// Run loads the metadata server, then the proxy, each for cfg.Duration.
func Run(ctx context.Context, cfg Config) ([]*Report, error) {
	cfg = cfg.withDefaults()
	var reports []*Report
	for _, phase := range []func(context.Context, Config) (*Report, error){runMetadataServer, runProxy} {
		r, err := phase(ctx, cfg)
		if err != nil {
			return reports, err
		}
		reports = append(reports, r)
	}
	return reports, nil
}

// faultyFake starts a fake Google whose token endpoint fails and stalls as
// cfg says, and returns it with credentials for its service account.
func faultyFake(cfg Config) (*fakegoogle.Running, *credentials.Credentials, error) {
	f, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{TokenLifetime: cfg.TokenLifetime})
	if err != nil {
		return nil, nil, err
	}
	key, err := f.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	creds, err := credentials.FromJSON(key, &credentials.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	f.SetFaultSeed(cfg.Seed)
	for _, fault := range []fakegoogle.Fault{
		{Path: "/token", Latency: cfg.Spike, LatencyRate: cfg.SpikeRate},
		{Path: "/token", Rate: cfg.ErrorRate, Status: http.StatusServiceUnavailable},
	} {
		if err := f.AddFault(fault); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	return f, creds, nil
}

func runMetadataServer(ctx context.Context, cfg Config) (*Report, error) {
	f, creds, err := faultyFake(cfg)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ms, err := metadataserver.New(&metadataserver.Options{
		Source:              metadataserver.FromCredentials(creds),
		ServiceAccountEmail: fakegoogle.DefaultServiceAccount,
		ProjectID:           fakegoogle.DefaultProjectID,
		RefreshBefore:       refreshBefore,
		MinRemaining:        minRemaining,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srvCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ms.Serve(srvCtx, ln) }()
	defer func() { stop(); <-done }()
	// A client starts once a token exists: the claim is about serving
	// while one is valid. Prewarm retries through the faults.
	if err := ms.Prewarm(ctx); err != nil {
		return nil, err
	}
	url := "http://" + ln.Addr().String() + "/computeMetadata/v1/instance/service-accounts/default/token"
	return load(ctx, cfg, "metadata-server", f, func(c *http.Client) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Metadata-Flavor", "Google")
		return expectOK(c, req, `"access_token":"ya29.`)
	})
}

func runProxy(ctx context.Context, cfg Config) (*Report, error) {
	f, creds, err := faultyFake(cfg)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The upstream service checks that each request carries a token.
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ya29.") {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	target, _ := url.Parse(backend.URL)
	plain, err := creds.AccessTokenSource(nil)
	if err != nil {
		return nil, err
	}
	tokens, err := gcptoken.NewCachedProvider(plain, &gcptoken.CacheOptions{RefreshBefore: refreshBefore, MinRemaining: minRemaining})
	if err != nil {
		return nil, err
	}
	if _, err := tokens.Token(ctx); err != nil { // a token exists before clients start
		return nil, err
	}
	p, err := authproxy.New(&authproxy.Options{Target: target, Tokens: tokens, RefreshInterval: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srvCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Serve(srvCtx, ln) }()
	defer func() { stop(); <-done }()
	url := "http://" + ln.Addr().String() + "/hello"
	return load(ctx, cfg, "auth-proxy", f, func(c *http.Client) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		return expectOK(c, req, "ok")
	})
}

// expectOK sends req and checks for a 200 whose body contains want.
func expectOK(c *http.Client, req *http.Request, want string) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, body)
	}
	return nil
}

// load runs cfg.Clients clients calling do back to back for cfg.Duration.
func load(ctx context.Context, cfg Config, name string, f *fakegoogle.Running, do func(*http.Client) error) (*Report, error) {
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConns: cfg.Clients, MaxIdleConnsPerHost: cfg.Clients, IdleConnTimeout: time.Minute},
		Timeout:   30 * time.Second,
	}
	defer client.CloseIdleConnections()
	r := &Report{Server: name, Duration: cfg.Duration, Clients: cfg.Clients, RSSStartKiB: rssKiB()}
	upBefore, failBefore := f.RequestCount("/token"), f.FaultsInjected()
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var (
		errs     atomic.Int64
		firstErr sync.Once
		wg       sync.WaitGroup
		lats     = make([][]time.Duration, cfg.Clients)
	)
	for i := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				start := time.Now()
				err := do(client) // not cut short at the end: each request completes
				lats[i] = append(lats[i], time.Since(start))
				if err != nil {
					errs.Add(1)
					firstErr.Do(func() { r.FirstError = err.Error() })
				}
			}
		}()
	}
	wg.Wait()
	all := slices.Concat(lats...)
	slices.Sort(all)
	r.Requests, r.Errors = int64(len(all)), errs.Load()
	if n := len(all); n > 0 {
		r.P50, r.P99, r.Max = all[n/2], all[n*99/100], all[n-1]
	}
	r.UpstreamCalls = f.RequestCount("/token") - upBefore
	r.UpstreamFailures = f.FaultsInjected() - failBefore
	r.RSSEndKiB = rssKiB()
	return r, nil
}

// rssKiB reads this process's resident set size (Linux); 0 elsewhere.
func rssKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
