package fakegoogle

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/metadataserver"
)

// These tests run gcptoken's own library (credentials + the caching
// provider, and the metadata server) against the fake with faults
// injected: transient faults are retried, permanent ones are not, a
// still-valid token is served while refreshes fail, and an expired token
// is never handed out.

// offsetClock is the real clock plus an offset the test moves, so cached
// tokens (whose expiry the client computes from the real clock) can be
// made stale or expired without sleeping.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time      { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) Set(d time.Duration) { c.off.Store(int64(d)) }

func noEnv(string) string { return "" }

// saProvider returns an uncached access-token source for the fake's default
// service account.
func saProvider(t *testing.T, f *testFake) gcptoken.TokenProvider {
	t.Helper()
	key, err := f.ServiceAccountKeyJSON(DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.FromJSON(key, &credentials.Options{Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	p, err := creds.AccessTokenSource([]string{cloudPlatform})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// cachedProvider is gcptoken.NewCachedProvider for valid options.
func cachedProvider(t *testing.T, src gcptoken.TokenProvider, opts *gcptoken.CacheOptions) gcptoken.TokenProvider {
	t.Helper()
	p, err := gcptoken.NewCachedProvider(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fastRetries keeps retry tests quick while exercising the same code.
func fastRetries(now func() time.Time) *gcptoken.CacheOptions {
	return &gcptoken.CacheOptions{
		MaxAttempts: 3, BaseBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		AttemptTimeout: 2 * time.Second, Now: now,
	}
}

func TestLibraryUnderFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault Fault
		// wantOK: the caller gets a token; wantRequests: token endpoint
		// calls for one Token call.
		wantOK       bool
		wantRequests int
		wantErr      string
		wantInvalid  bool // errors.Is(err, gcptoken.ErrInvalidCredentials)
	}{
		{name: "500 internal_failure twice", fault: Fault{Status: 500, Times: 2}, wantOK: true, wantRequests: 3},
		{name: "503 temporarily_unavailable twice", fault: Fault{Status: 503, Times: 2}, wantOK: true, wantRequests: 3},
		{name: "502 twice", fault: Fault{Status: 502, Times: 2}, wantOK: true, wantRequests: 3},
		{name: "429 twice", fault: Fault{Status: 429, Times: 2}, wantOK: true, wantRequests: 3},
		{name: "connection reset twice", fault: Fault{Reset: true, Times: 2}, wantOK: true, wantRequests: 3},
		{name: "truncated body twice", fault: Fault{Truncate: true, Times: 2}, wantOK: true, wantRequests: 3},
		{name: "hang once", fault: Fault{Hang: true, Times: 1}, wantOK: true, wantRequests: 2},
		{name: "latency", fault: Fault{Latency: 100 * time.Millisecond}, wantOK: true, wantRequests: 1},
		{name: "wrong content type", fault: Fault{WrongContentType: true, Times: 1}, wantOK: true, wantRequests: 1},
		{name: "503 outlasting the retries", fault: Fault{Status: 503}, wantRequests: 3, wantErr: "after 3 attempts"},
		{name: "malformed 200 body", fault: Fault{Malformed: true, Times: 1}, wantRequests: 1, wantErr: "fetch access token"},
		{name: "invalid_grant is not retried", fault: Fault{Status: 400, ErrorCode: "invalid_grant", Times: 1}, wantRequests: 1, wantErr: "invalid_grant", wantInvalid: true},
		{name: "403 is not retried", fault: Fault{Status: 403, ErrorCode: "access_denied", Times: 1}, wantRequests: 1, wantErr: "access_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, nil)
			t.Cleanup(f.ClearFaults) // ends hangs before the server closes
			tt.fault.Path = "/token"
			if err := f.AddFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			p := cachedProvider(t, saProvider(t, f), fastRetries(nil))
			tok, err := p.Token(context.Background())
			if got := f.RequestCount("/token"); got != tt.wantRequests {
				t.Errorf("token endpoint saw %d requests; want %d", got, tt.wantRequests)
			}
			if tt.wantOK {
				if err != nil || tok == nil || !strings.HasPrefix(tok.Value, "ya29.") {
					t.Fatalf("Token = %v, %v; want a ya29. token", tok, err)
				}
				return
			}
			if err == nil || tok != nil {
				t.Fatalf("Token = %v, %v; want an error and no token", tok, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q; want one line containing %q", err, tt.wantErr)
			}
			if got := errors.Is(err, gcptoken.ErrInvalidCredentials); got != tt.wantInvalid {
				t.Errorf("errors.Is(err, ErrInvalidCredentials) = %v; want %v", got, tt.wantInvalid)
			}
		})
	}
}

// TestStaleWhileRefreshFails: a failing token endpoint never fails a
// caller while the cached token is usable, and an unusable one is never
// handed out.
func TestStaleWhileRefreshFails(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	clock := &offsetClock{}
	p := cachedProvider(t, saProvider(t, f), fastRetries(clock.Now))
	ctx := context.Background()
	first, err := p.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.AddFault(Fault{Path: "/token", Status: 503}); err != nil {
		t.Fatal(err)
	}

	// Four minutes left: stale (RefreshBefore 5m) but usable.
	clock.Set(time.Until(first.Expiry) - 4*time.Minute)
	for i := range 50 {
		tok, err := p.Token(ctx)
		if err != nil || tok.Value != first.Value {
			t.Fatalf("call %d while refreshes fail: %v, %v; want the cached token", i, tok, err)
		}
	}
	waitFor(t, func() bool { return f.RequestCount("/token") >= 1+3 })

	// Five seconds left, under MinRemaining (10s): never handed out.
	clock.Set(time.Until(first.Expiry) - 5*time.Second)
	tok, err := p.Token(ctx)
	if err == nil || tok != nil {
		t.Fatalf("Token near expiry with the endpoint down = %v, %v; want an error, not the dying token", tok, err)
	}
	if !gcptoken.IsUnavailable(err) {
		t.Errorf("error %q: IsUnavailable = false; want true (an outage, not a bad credential)", err)
	}

	// The endpoint recovers: back in the stale window, the background
	// refresh now succeeds and its token replaces the old one.
	f.ClearFaults()
	clock.Set(time.Until(first.Expiry) - 4*time.Minute)
	waitFor(t, func() bool {
		tok, err := p.Token(ctx)
		return err == nil && tok.Value != first.Value
	})
}

// TestSkewedServerTokensNeverServed: a token server whose clock is two hours
// behind issues ID tokens that expired an hour ago; the cache refuses them
// with an error that points at the clock.
func TestSkewedServerTokensNeverServed(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	rt, err := f.IssueRefreshToken(DefaultClientID, DefaultUser, []string{"openid", "email"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := f.AuthorizedUserJSON(DefaultClientID, rt)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.FromJSON(data, &credentials.Options{Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := creds.IDTokenSource("https://svc.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.SetClockSkew(-2 * time.Hour)
	p := cachedProvider(t, plain, fastRetries(nil))
	tok, err := p.Token(context.Background())
	if err == nil || tok != nil {
		t.Fatalf("Token from a skewed server = %v, %v; want an error", tok, err)
	}
	if !strings.Contains(err.Error(), "clock") || !errors.Is(err, gcptoken.ErrClockSkew) {
		t.Errorf("error %q does not point at the clock, or is not gcptoken.ErrClockSkew", err)
	}

	// A service account's assertion is refused outright by such a server
	// (its iat is two hours in the server's future): permanent, one request.
	sa := cachedProvider(t, saProvider(t, f), fastRetries(nil))
	before := f.RequestCount("/token")
	if _, err := sa.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("service account against a skewed server: err = %v; want invalid_grant", err)
	}
	if got := f.RequestCount("/token") - before; got != 1 {
		t.Errorf("got %d token requests; want 1 (invalid_grant is not retried)", got)
	}
}

// metadataChain starts a metadata server whose tokens come from f, and
// returns an uncached access-token source reading from it the way code on
// GCE does (credentials' metadata source): one request per Token call.
func metadataChain(t *testing.T, f *testFake, clock *offsetClock) gcptoken.TokenProvider {
	t.Helper()
	key, err := f.ServiceAccountKeyJSON(DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.FromJSON(key, &credentials.Options{Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := metadataserver.New(&metadataserver.Options{
		Source: metadataserver.FromCredentials(creds), ServiceAccountEmail: DefaultServiceAccount, ProjectID: DefaultProjectID,
		Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(ms)
	t.Cleanup(ts.Close)
	host := strings.TrimPrefix(ts.URL, "http://")
	client, err := credentials.Detect(context.Background(), &credentials.Options{MetadataHost: host, Getenv: noEnv, HomeDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Detect with the metadata server: %v", err)
	}
	plain, err := client.AccessTokenSource(nil)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}

func TestMetadataServerUnderUpstreamFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("transient upstream errors are absorbed", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, nil)
		if err := f.AddFault(Fault{Path: "/token", Status: 503, Times: 2}); err != nil {
			t.Fatal(err)
		}
		p := cachedProvider(t, metadataChain(t, f, &offsetClock{}), fastRetries(nil))
		tok, err := p.Token(ctx)
		if err != nil || !strings.HasPrefix(tok.Value, "ya29.") {
			t.Fatalf("Token through the metadata server = %v, %v; want a token", tok, err)
		}
		if got := f.RequestCount("/token"); got != 3 {
			t.Errorf("upstream saw %d requests; want 3 (two failures, one success)", got)
		}
	})

	t.Run("stale token served while upstream is down, never an expired one", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, nil)
		clock := &offsetClock{}
		p := metadataChain(t, f, clock)
		first, err := p.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.AddFault(Fault{Path: "/token", Status: 503}); err != nil {
			t.Fatal(err)
		}
		// The metadata server keeps at least 5 minutes (MinRemaining) and
		// refreshes from 10 minutes before expiry: at 7 minutes left it
		// serves its token and refreshes in the background, failing.
		clock.Set(time.Until(first.Expiry) - 7*time.Minute)
		for i := range 20 {
			// p is uncached: each call asks the metadata server.
			tok, err := p.Token(ctx)
			if err != nil || tok.Value != first.Value {
				t.Fatalf("call %d: %v, %v; want the metadata server's cached token", i, tok, err)
			}
		}
		// At 4 minutes left it must not hand the token out.
		clock.Set(time.Until(first.Expiry) - 4*time.Minute)
		tok, err := p.Token(ctx)
		if err == nil || tok != nil {
			t.Fatalf("near expiry with upstream down: %v, %v; want an error", tok, err)
		}
		if !strings.Contains(err.Error(), "503") {
			t.Errorf("error %q; want the metadata server's 503", err)
		}
	})

	t.Run("invalid_grant upstream", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, nil)
		if err := f.AddFault(Fault{Path: "/token", Status: 400, ErrorCode: "invalid_grant"}); err != nil {
			t.Fatal(err)
		}
		p := cachedProvider(t, metadataChain(t, f, &offsetClock{}), fastRetries(nil))
		tok, err := p.Token(ctx)
		if err == nil || tok != nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("Token = %v, %v; want an error naming invalid_grant", tok, err)
		}
	})
}

// TestCallerDeadlineBoundsTheWait: a caller whose deadline passes while the
// token endpoint hangs gets its context error at its deadline, not after the
// cache's own (longer) fetch timeout.
func TestCallerDeadlineBoundsTheWait(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	t.Cleanup(f.ClearFaults)
	if err := f.AddFault(Fault{Path: "/token", Hang: true}); err != nil {
		t.Fatal(err)
	}
	p := cachedProvider(t, saProvider(t, f), &gcptoken.CacheOptions{AttemptTimeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	tok, err := p.Token(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || tok != nil {
		t.Fatalf("Token = %v, %v; want the caller's deadline error", tok, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Token returned after %v; want about the caller's 300ms deadline", d)
	}
}
