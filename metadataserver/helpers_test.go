package metadataserver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

const (
	testEmail   = "sa@test-project.iam.gserviceaccount.com"
	testProject = "test-project"
	testNumber  = "123456789012"
)

// clock is an injectable clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeSource is a counting Source: every Token call is one "upstream fetch".
type fakeSource struct {
	now      func() time.Time
	lifetime time.Duration // of issued tokens; default 1h
	delay    time.Duration // per fetch

	mu         sync.Mutex
	fetches    map[string]int // by key: scopes joined by ",", or "id:"+request
	providers  map[string]int // provider constructions by key
	failWith   error          // when set, every fetch fails with it
	failScopes string         // AccessTokenProvider refuses this scope
	seq        int
	total      atomic.Int64
}

func newFakeSource(now func() time.Time) *fakeSource {
	return &fakeSource{now: now, lifetime: time.Hour, fetches: map[string]int{}, providers: map[string]int{}}
}

func (f *fakeSource) setFail(err error) {
	f.mu.Lock()
	f.failWith = err
	f.mu.Unlock()
}

func (f *fakeSource) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches[key]
}

func (f *fakeSource) made(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.providers[key]
}

func (f *fakeSource) provider(key string, kind gcptoken.Kind, prefix string) gcptoken.TokenProvider {
	f.mu.Lock()
	f.providers[key]++
	f.mu.Unlock()
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		if f.delay > 0 {
			time.Sleep(f.delay)
		}
		f.total.Add(1)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.fetches[key]++
		if f.failWith != nil {
			return nil, f.failWith
		}
		f.seq++
		return &gcptoken.Token{
			Value:  fmt.Sprintf("%s%d", prefix, f.seq),
			Type:   "Bearer",
			Kind:   kind,
			Expiry: f.now().Add(f.lifetime),
		}, nil
	})
}

func (f *fakeSource) AccessTokenProvider(scopes []string) (gcptoken.TokenProvider, error) {
	for _, s := range scopes {
		if f.failScopes != "" && s == f.failScopes {
			return nil, fmt.Errorf("scope %q is not allowed for this credential", s)
		}
	}
	return f.provider(strings.Join(scopes, ","), gcptoken.AccessToken, "ya29.fake-"), nil
}

func (f *fakeSource) IDTokenProvider(req IDTokenRequest) (gcptoken.TokenProvider, error) {
	return f.provider(idKey(req), gcptoken.IDToken, "eyJhbGciOiJSUzI1NiJ9.fake-"), nil
}

func idKey(req IDTokenRequest) string {
	return fmt.Sprintf("id:%s|%s|%t", req.Audience, req.Format, req.Licenses)
}

// newTestServer returns a Server over a fakeSource with a manual clock;
// edit adjusts the options.
func newTestServer(t testing.TB, edit func(*Options)) (*Server, *fakeSource, *clock) {
	t.Helper()
	clk := newClock()
	src := newFakeSource(clk.Now)
	opts := &Options{
		Source:              src,
		ServiceAccountEmail: testEmail,
		Scopes:              []string{"https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/userinfo.email"},
		ProjectID:           testProject,
		NumericProjectID:    testNumber,
		InstanceID:          "1234567890123456789",
		InstanceName:        "vm-1",
		InstanceAttributes:  map[string]string{"env": "dev", "ssh-keys": "k1"},
		ProjectAttributes:   map[string]string{"team": "auth"},
		MachineType:         "n2-standard-4",
		Description:         "test vm",
		Tags:                []string{"http-server", "ssh"},
		Licenses:            []string{"111", "222"},
		InternalIP:          "10.1.2.3",
		ExternalIP:          "203.0.113.9",
		Now:                 clk.Now,
	}
	if edit != nil {
		edit(opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, src, clk
}

// get sends a GET with Metadata-Flavor: Google to s.
func get(s http.Handler, target string) *httptest.ResponseRecorder {
	return do(s, http.MethodGet, target, http.Header{"Metadata-Flavor": {"Google"}})
}

// testBase is the server's address in test requests: the name Google's
// clients use (httptest.NewRequest's default, example.com, is refused).
const testBase = "http://metadata.google.internal"

func do(s http.Handler, method, target string, h http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, testBase+target, nil)
	for k, v := range h {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}
