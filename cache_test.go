package gcptoken

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock shared by a test and the provider under test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// countingSource mints numbered tokens valid for an hour (or lifetime) from
// clock.Now, and fails with the queued errors first.
type countingSource struct {
	clock    *fakeClock
	lifetime time.Duration
	calls    atomic.Int64
	gate     chan struct{} // if non-nil, each call waits for it to close

	mu   sync.Mutex
	errs []error
}

func (s *countingSource) Token(ctx context.Context) (*Token, error) {
	n := s.calls.Add(1)
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		s.mu.Unlock()
		return nil, err
	}
	s.mu.Unlock()
	lifetime := s.lifetime
	if lifetime == 0 {
		lifetime = time.Hour
	}
	return &Token{Value: "tok-" + string(rune('0'+n)), Kind: AccessToken, Expiry: s.clock.Now().Add(lifetime)}, nil
}

// testOptions pins the refresh point to RefreshBefore (no jitter), so that
// tests can step the clock across it; TestCachedProviderRefreshJitter and
// the tests after it cover jitter.
func testOptions(clock *fakeClock) *CacheOptions {
	return &CacheOptions{Now: clock.Now, BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, RefreshJitter: -1}
}

// fixedRand returns draw for every jitter draw and counts the draws.
func fixedRand(draw float64, draws *atomic.Int64) func() float64 {
	return func() float64 {
		draws.Add(1)
		return draw
	}
}

// TestCachedProviderRefreshJitter steps the clock to just before and then
// to the refresh point the jitter predicts: before it the token is served
// without a fetch, at it a background refresh starts.
func TestCachedProviderRefreshJitter(t *testing.T) {
	t.Parallel()
	const window = 6 * time.Minute // the default for a one-hour token
	tests := []struct {
		name      string
		lifetime  time.Duration
		jitter    time.Duration
		draw      float64
		wantLead  time.Duration // before expiry; RefreshBefore is 5m
		wantDraws int64
	}{
		{"disabled: RefreshBefore alone", time.Hour, -1, 0.5, 5 * time.Minute, 0},
		{"default window, draw 0", time.Hour, 0, 0, 5 * time.Minute, 1},
		{"default window is a tenth of the lifetime", time.Hour, 0, 0.5, 5*time.Minute + window/2, 1},
		{"default window, top draw stays inside", time.Hour, 0, 0.9999999999999999, 5*time.Minute + window - 1, 1},
		{"default window scales with the lifetime", 12 * time.Hour, 0, 0.5, 5*time.Minute + 36*time.Minute, 1},
		{"explicit window", time.Hour, 2 * time.Minute, 0.25, 5*time.Minute + 30*time.Second, 1},
		{"draw of 1 stays inside the window", time.Hour, 2 * time.Minute, 1, 7*time.Minute - 1, 1},
		{"negative draw adds nothing", time.Hour, 2 * time.Minute, -0.5, 5 * time.Minute, 1},
		{"not before half the lifetime", time.Hour, 40 * time.Minute, 0.9, 30 * time.Minute, 1},
		{"short token: RefreshBefore past half, no jitter", 8 * time.Minute, 0, 0.5, 5 * time.Minute, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			src := &countingSource{clock: clock, lifetime: tt.lifetime}
			var draws atomic.Int64
			opts := testOptions(clock)
			opts.RefreshJitter = tt.jitter
			opts.Rand = fixedRand(tt.draw, &draws)
			p := mustCached(t, src, opts)
			if _, err := p.Token(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := draws.Load(); got != tt.wantDraws {
				t.Errorf("got %d jitter draws for one token; want %d", got, tt.wantDraws)
			}

			clock.Advance(tt.lifetime - tt.wantLead - 1)
			if tok, err := p.Token(context.Background()); err != nil || tok.Value != "tok-1" {
				t.Fatalf("1ns before the refresh point: got %v, %v; want tok-1", tok, err)
			}
			if got := src.calls.Load(); got != 1 {
				t.Fatalf("1ns before the refresh point: got %d source calls; want 1", got)
			}
			clock.Advance(1)
			if tok, err := p.Token(context.Background()); err != nil || tok.Value != "tok-1" {
				t.Fatalf("at the refresh point: got %v, %v; want the stale tok-1", tok, err)
			}
			waitFor(t, func() bool { return src.calls.Load() == 2 })
		})
	}
}

// TestRefreshAtBounds checks the refresh point's bounds over a grid of
// settings and draws: never later than RefreshBefore before expiry, never
// earlier than the jitter window allows, and never moved before half the
// lifetime by the jitter.
func TestRefreshAtBounds(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, lifetime := range []time.Duration{30 * time.Second, 8 * time.Minute, 20 * time.Minute, time.Hour, 12 * time.Hour} {
		for _, before := range []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Minute} {
			for _, jitter := range []time.Duration{-1, 0, time.Nanosecond, 2 * time.Minute, 40 * time.Minute} {
				for _, draw := range []float64{-1, 0, 0.3, 0.5, 0.9999999999999999, 1, 2} {
					c := &cachedProvider{opts: (&CacheOptions{RefreshBefore: before, RefreshJitter: jitter, Rand: func() float64 { return draw }}).withDefaults()}
					tok := &Token{Value: "v", Expiry: now.Add(lifetime)}
					lead := tok.Expiry.Sub(c.refreshAt(tok, now))
					window := jitter
					if window == 0 {
						window = lifetime / 10
					}
					name := fmt.Sprintf("lifetime %s, RefreshBefore %s, RefreshJitter %s, draw %v", lifetime, before, jitter, draw)
					switch {
					case lead < before:
						t.Errorf("%s: got a lead of %s; want at least RefreshBefore", name, lead)
					case jitter < 0 && lead != before:
						t.Errorf("%s: got a lead of %s with jitter disabled; want RefreshBefore", name, lead)
					case lead > before && lead >= before+window:
						t.Errorf("%s: got a lead of %s; want below RefreshBefore + %s", name, lead, window)
					case lead > before && lead > lifetime/2:
						t.Errorf("%s: got a lead of %s; want the refresh no earlier than half the lifetime", name, lead)
					}
				}
			}
		}
	}
	c := &cachedProvider{opts: (&CacheOptions{}).withDefaults()}
	if got := c.refreshAt(&Token{Value: "v"}, now); !got.IsZero() {
		t.Errorf("token without expiry: got refresh point %s; want none (never fresh)", got)
	}
}

// TestCachedProviderJitterKeepsMinRemaining: however early jitter starts
// the refresh, a token is not served within MinRemaining of its expiry.
func TestCachedProviderJitterKeepsMinRemaining(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	src := &countingSource{clock: clock}
	var draws atomic.Int64
	opts := testOptions(clock)
	opts.MaxAttempts = 1
	opts.RefreshJitter = 40 * time.Minute
	opts.Rand = fixedRand(0.99, &draws)
	p := mustCached(t, src, opts)
	if _, err := p.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	boom := &Error{Op: "fetch access token", StatusCode: http.StatusServiceUnavailable}
	src.mu.Lock()
	src.errs = []error{boom, boom, boom, boom, boom, boom}
	src.mu.Unlock()
	// Half the lifetime: the earliest refresh point. Stale, still served.
	clock.Advance(30 * time.Minute)
	if tok, err := p.Token(context.Background()); err != nil || tok.Value != "tok-1" {
		t.Fatalf("at half the lifetime: got %v, %v; want the stale tok-1", tok, err)
	}
	waitFor(t, func() bool { return src.calls.Load() >= 2 })
	clock.Advance(30*time.Minute - 10*time.Second - 1)
	if tok, err := p.Token(context.Background()); err != nil || tok.Value != "tok-1" {
		t.Fatalf("1ns before MinRemaining: got %v, %v; want tok-1", tok, err)
	}
	clock.Advance(1)
	if tok, err := p.Token(context.Background()); err == nil {
		t.Fatalf("within MinRemaining of expiry: got token %q; want an error", tok.Value)
	}
}

func TestCachedProviderServesFreshTokenWithoutRefetch(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	src := &countingSource{clock: clock}
	p := mustCached(t, src, testOptions(clock))
	first, err := p.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(50 * time.Minute) // 10 minutes left: still fresh (window is 5)
	second, err := p.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if second.Value != first.Value {
		t.Errorf("got token %q; want cached %q", second.Value, first.Value)
	}
	if got := src.calls.Load(); got != 1 {
		t.Errorf("got %d source calls; want 1", got)
	}
}

func TestCachedProviderCoalescesColdCache(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	src := &countingSource{clock: clock, gate: make(chan struct{})}
	p := mustCached(t, src, testOptions(clock))

	const callers = 1000
	var wg sync.WaitGroup
	var started sync.WaitGroup
	errs := make(chan error, callers)
	values := make(chan string, callers)
	started.Add(callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			tok, err := p.Token(context.Background())
			if err != nil {
				errs <- err
				return
			}
			values <- tok.Value
		}()
	}
	started.Wait()
	// Whether a goroutine joined the in-flight refresh or arrives after it,
	// it must not cause a second upstream call.
	close(src.gate)
	wg.Wait()
	close(errs)
	close(values)
	for err := range errs {
		t.Fatalf("Token: %v", err)
	}
	for v := range values {
		if v != "tok-1" {
			t.Fatalf("got token %q; want tok-1", v)
		}
	}
	if got := src.calls.Load(); got != 1 {
		t.Errorf("got %d upstream calls for %d concurrent callers; want 1", got, callers)
	}
}

func TestCachedProviderStaleTokenServedWhileRefreshing(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	src := &countingSource{clock: clock}
	p := mustCached(t, src, testOptions(clock))
	if _, err := p.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	src.gate = make(chan struct{})  // hold the background refresh
	clock.Advance(57 * time.Minute) // 3 minutes left: stale, still usable

	for range 5 {
		tok, err := p.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if tok.Value != "tok-1" {
			t.Fatalf("got %q while refresh is held; want the stale tok-1", tok.Value)
		}
	}
	close(src.gate)
	waitFor(t, func() bool {
		tok, _ := p.Token(context.Background())
		return tok != nil && tok.Value == "tok-2"
	})
	if got := src.calls.Load(); got != 2 {
		t.Errorf("got %d source calls; want 2 (one background refresh)", got)
	}
}

func TestCachedProviderFailedRefreshKeepsUsableToken(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	src := &countingSource{clock: clock}
	opts := testOptions(clock)
	opts.MaxAttempts = 1
	p := mustCached(t, src, opts)
	if _, err := p.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	boom := &Error{Op: "fetch access token", StatusCode: http.StatusServiceUnavailable}
	src.errs = []error{boom, boom, boom, boom}
	clock.Advance(57 * time.Minute)
	tok, err := p.Token(context.Background())
	if err != nil || tok.Value != "tok-1" {
		t.Fatalf("stale window: got %v, %v; want tok-1 and no error", tok, err)
	}
	waitFor(t, func() bool { return src.calls.Load() >= 2 })

	clock.Advance(3 * time.Minute) // now expired
	tok, err = p.Token(context.Background())
	if err == nil {
		t.Fatalf("got token %q after expiry with a failing source; want an error", tok.Value)
	}
	if !errors.Is(err, boom) && !IsTemporary(err) {
		t.Errorf("got error %v; want the source's 503", err)
	}
}

func TestCachedProviderRetries(t *testing.T) {
	t.Parallel()
	transient := &Error{Op: "fetch", StatusCode: 503}
	permanent := &Error{Op: "fetch", StatusCode: 400, Code: "invalid_grant"}
	tests := []struct {
		name      string
		errs      []error
		wantCalls int64
		wantErr   bool
	}{
		{"transient then ok", []error{transient}, 2, false},
		{"two transients then ok", []error{transient, transient}, 3, false},
		{"transient exhausts attempts", []error{transient, transient, transient}, 3, true},
		{"permanent is not retried", []error{permanent}, 1, true},
		{"connection refused is retried", []error{NewTransportError("fetch", "http://x", errConnRefused())}, 2, false},
		{"caller gave up is not retried", []error{context.Canceled}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			src := &countingSource{clock: clock, errs: tt.errs}
			p := mustCached(t, src, testOptions(clock))
			_, err := p.Token(context.Background())
			if (err != nil) != tt.wantErr {
				t.Errorf("got error %v; want error: %v", err, tt.wantErr)
			}
			if got := src.calls.Load(); got != tt.wantCalls {
				t.Errorf("got %d calls; want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestCachedProviderRejectsExpiredTokenFromSource(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	src := TokenProviderFunc(func(context.Context) (*Token, error) {
		return &Token{Value: "old", Expiry: clock.Now().Add(-time.Minute)}, nil
	})
	_, err := mustCached(t, src, testOptions(clock)).Token(context.Background())
	if err == nil {
		t.Fatal("got an already-expired token; want an error")
	}
}

func TestCachedProviderCallerCancelDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	src := &countingSource{clock: clock, gate: make(chan struct{})}
	p := mustCached(t, src, testOptions(clock))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Token(ctx)
		done <- err
	}()
	waitFor(t, func() bool { return src.calls.Load() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v; want context.Canceled", err)
	}
	close(src.gate)
	tok, err := p.Token(context.Background())
	if err != nil || tok.Value != "tok-1" {
		t.Fatalf("second caller got %v, %v; want tok-1 from the shared refresh", tok, err)
	}
}

func TestNewCachedProviderDoesNotDoubleWrap(t *testing.T) {
	t.Parallel()
	p := mustCached(t, &countingSource{clock: newFakeClock()}, nil)
	if again := mustCached(t, p, nil); again != p {
		t.Error("wrapping a cached provider again returned a new wrapper")
	}
}

// Misuse fails where the provider is made, naming what is wrong, rather
// than panicking later in the refresh goroutine.
func TestNewCachedProviderRefusesMisuse(t *testing.T) {
	t.Parallel()
	src := &countingSource{clock: newFakeClock()}
	for _, tc := range []struct {
		name string
		src  TokenProvider
		opts *CacheOptions
		want string
	}{
		{"nil source", nil, nil, "the source is nil"},
		{"negative RefreshBefore", src, &CacheOptions{RefreshBefore: -time.Second}, "CacheOptions.RefreshBefore is negative"},
		{"negative MaxAttempts", src, &CacheOptions{MaxAttempts: -1}, "CacheOptions.MaxAttempts is negative"},
		{"negative AttemptTimeout", src, &CacheOptions{AttemptTimeout: -1}, "CacheOptions.AttemptTimeout is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewCachedProvider(tc.src, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewCachedProvider = %v, %v; want an error containing %q", p, err, tc.want)
			}
		})
	}
	if _, err := NewCachedProvider(src, &CacheOptions{RefreshJitter: -1}); err != nil {
		t.Errorf("a negative RefreshJitter disables jitter; got %v", err)
	}
}

// mustCached is NewCachedProvider for options that are known to be valid.
func mustCached(tb testing.TB, src TokenProvider, opts *CacheOptions) TokenProvider {
	tb.Helper()
	p, err := NewCachedProvider(src, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// waitFor polls cond; background refreshes finish on their own goroutine.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func BenchmarkCachedProviderHit(b *testing.B) {
	src := TokenProviderFunc(func(context.Context) (*Token, error) {
		return &Token{Value: "v", Expiry: time.Now().Add(time.Hour)}, nil
	})
	p := mustCached(b, src, nil)
	ctx := context.Background()
	if _, err := p.Token(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Token(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCachedProviderColdCoalescing measures 100 concurrent callers on a
// cold cache; each iteration is one shared upstream fetch.
func BenchmarkCachedProviderColdCoalescing(b *testing.B) {
	var calls atomic.Int64
	src := TokenProviderFunc(func(context.Context) (*Token, error) {
		calls.Add(1)
		return &Token{Value: "v", Expiry: time.Now().Add(time.Hour)}, nil
	})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p := mustCached(b, src, nil)
		var wg sync.WaitGroup
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := p.Token(ctx); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(calls.Load())/float64(b.N), "upstream/op")
}
