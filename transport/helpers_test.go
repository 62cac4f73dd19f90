package transport_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/transport"
)

// startFake serves a fresh fakegoogle for one test. 1024-bit keys keep key
// generation fast under -race.
func startFake(t testing.TB) *fakegoogle.Server {
	t.Helper()
	s, err := fakegoogle.New(&fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	s.SetBaseURL(ts.URL)
	return s
}

// saCreds returns service-account credentials minted by fake. env, if not
// nil, stands in for the environment.
func saCreds(t testing.TB, fake *fakegoogle.Server, env map[string]string) *credentials.Credentials {
	t.Helper()
	key, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.FromJSON(key, &credentials.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// credsClient is the client credentials.Credentials.NewClient makes of creds
// for the token opts' Kind and Audience describe.
func credsClient(t testing.TB, creds *credentials.Credentials, opts transport.Options) *http.Client {
	t.Helper()
	c, err := creds.NewClient(&credentials.TokenRequest{Kind: opts.Kind, Audience: opts.Audience}, &opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeTokens is a TokenProvider that counts calls and can be slowed or made
// to fail.
type fakeTokens struct {
	kind  gcptoken.Kind
	value string
	delay time.Duration
	err   error
	block chan struct{} // if non-nil, Token waits for it to close

	calls atomic.Int32
}

func (f *fakeTokens) Token(ctx context.Context) (*gcptoken.Token, error) {
	f.calls.Add(1)
	if f.block != nil {
		<-f.block
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if f.err != nil {
		return nil, f.err
	}
	v := f.value
	if v == "" {
		v = "fake-token"
	}
	return &gcptoken.Token{Value: v, Type: "Bearer", Kind: f.kind, Expiry: time.Now().Add(time.Hour)}, nil
}

// recorder is an upstream that records the headers of every request.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func newRecorder(t testing.TB, h http.HandlerFunc) *recorder {
	t.Helper()
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.seen = append(r.seen, req.Header.Clone())
		r.mu.Unlock()
		if h != nil {
			h(w, req)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) requests() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.seen...)
}

// last returns the headers of the last request; it fails the test if there
// was none.
func (r *recorder) last(t testing.TB) http.Header {
	t.Helper()
	seen := r.requests()
	if len(seen) == 0 {
		t.Fatalf("upstream %s got no request", r.URL)
	}
	return seen[len(seen)-1]
}

// hostOf returns the host:port of a URL.
func hostOf(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// claims decodes a JWT's payload without verifying it.
func claims(t testing.TB, header string) map[string]any {
	t.Helper()
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		t.Fatalf("header = %q; want a Bearer token", header)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts; want a JWT", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// trackedBody is a request body that records whether it was closed.
type trackedBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackedBody) Close() error { b.closed.Store(true); return nil }

// stubBase is a Base that answers 200 without any network, recording the
// requests it was given.
type stubBase struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (s *stubBase) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	s.mu.Unlock()
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

func (s *stubBase) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.reqs...)
}
