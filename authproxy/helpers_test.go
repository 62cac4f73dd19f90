package authproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// countingSource mints "tok-1", "tok-2", … valid for an hour of clock time.
type countingSource struct {
	now   func() time.Time
	calls atomic.Int64
	err   error // returned instead, when set
}

func (s *countingSource) Token(context.Context) (*gcptoken.Token, error) {
	n := s.calls.Add(1)
	if s.err != nil {
		return nil, s.err
	}
	return &gcptoken.Token{
		Value: "tok-" + strconv.FormatInt(n, 10), Type: "Bearer", Kind: gcptoken.IDToken,
		Expiry: s.now().Add(time.Hour),
	}, nil
}

// staticTokens always returns the token "secret-token", valid for an hour.
var staticTokens = gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) {
	return &gcptoken.Token{Value: "secret-token", Type: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
})

// seen is what an upstream saw of one request.
type seen struct {
	Host, Path, RawQuery, Proto string
	Header                      http.Header
}

// recorder is an upstream that records requests and answers "ok".
type recorder struct {
	mu   sync.Mutex
	reqs []seen
	hits atomic.Int64
	// handle, when set, answers instead of "ok".
	handle http.HandlerFunc
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.hits.Add(1)
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, seen{r.Host, r.URL.Path, r.URL.RawQuery, r.Proto, r.Header.Clone()})
	rec.mu.Unlock()
	if rec.handle != nil {
		rec.handle(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok")
}

func (rec *recorder) last(t *testing.T) seen {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatal("upstream saw no request")
	}
	return rec.reqs[len(rec.reqs)-1]
}

func startUpstream(t *testing.T, rec *recorder) *url.URL {
	t.Helper()
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// running is a Proxy serving on loopback.
type running struct {
	*Proxy
	URL  string // http://127.0.0.1:port
	Host string
	stop func() error
}

// startProxy serves a Proxy for target until the test ends; edit changes
// the options first.
func startProxy(t *testing.T, target *url.URL, edit func(*Options)) *running {
	t.Helper()
	opts := &Options{Target: target, Tokens: staticTokens}
	if edit != nil {
		edit(opts)
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(30 * time.Second):
				serveErr = errors.New("Serve did not return 30s after cancel")
			}
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &running{Proxy: p, URL: "http://" + ln.Addr().String(), Host: ln.Addr().String(), stop: stop}
}

// get sends a GET through c (default: a client that does not follow
// redirects) with extra headers and returns the response with its body.
func get(t *testing.T, c *http.Client, rawURL string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	if c == nil {
		c = &http.Client{
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func oneLineBody(t *testing.T, body string) {
	t.Helper()
	if strings.Count(body, "\n") != 1 || !strings.HasSuffix(body, "\n") {
		t.Errorf("body %q is not one line", body)
	}
}
