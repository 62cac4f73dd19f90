package gcptoken

import (
	"context"
	"errors"
	"net/http"
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

// countingSource mints numbered tokens valid for an hour from clock.Now, and
// fails with the queued errors first.
type countingSource struct {
	clock *fakeClock
	calls atomic.Int64
	gate  chan struct{} // if non-nil, each call waits for it to close

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
	return &Token{Value: "tok-" + string(rune('0'+n)), Kind: AccessToken, Expiry: s.clock.Now().Add(time.Hour)}, nil
}

func testOptions(clock *fakeClock) *CacheOptions {
	return &CacheOptions{Now: clock.Now, BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
}

func TestCachedProviderServesFreshTokenWithoutRefetch(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	src := &countingSource{clock: clock}
	p := NewCachedProvider(src, testOptions(clock))
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
	p := NewCachedProvider(src, testOptions(clock))

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
	p := NewCachedProvider(src, testOptions(clock))
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
	p := NewCachedProvider(src, opts)
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
			p := NewCachedProvider(src, testOptions(clock))
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
	_, err := NewCachedProvider(src, testOptions(clock)).Token(context.Background())
	if err == nil {
		t.Fatal("got an already-expired token; want an error")
	}
}

func TestCachedProviderCallerCancelDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	src := &countingSource{clock: clock, gate: make(chan struct{})}
	p := NewCachedProvider(src, testOptions(clock))

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
	p := NewCachedProvider(&countingSource{clock: newFakeClock()}, nil)
	if NewCachedProvider(p, nil) != p {
		t.Error("wrapping a cached provider again returned a new wrapper")
	}
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
	p := NewCachedProvider(src, nil)
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
		p := NewCachedProvider(src, nil)
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
