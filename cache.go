package gcptoken

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// CacheOptions configures NewCachedProvider. The zero value is usable.
type CacheOptions struct {
	// RefreshBefore is how long before expiry a token counts as stale: a stale
	// token is still handed out while one background refresh runs. Optional;
	// default 5 minutes (Google's metadata server refreshes 4–5 minutes early
	// too, so a refreshed token is never older than the upstream one).
	RefreshBefore time.Duration
	// MinRemaining is the least lifetime a token must have left to be handed
	// out at all; a token closer to expiry than this is treated as expired.
	// Optional; default 10 seconds, so a caller never starts a request with a
	// token that dies in flight.
	MinRemaining time.Duration
	// MaxAttempts bounds the attempts of one refresh, counting the first.
	// Only transient failures (see IsTemporary) are retried. Optional;
	// default 3. Set 1 to disable retries.
	MaxAttempts int
	// BaseBackoff is the first retry's maximum delay; each retry doubles it
	// up to MaxBackoff, and the actual delay is drawn uniformly below it
	// ("full jitter") so many clients do not retry in step. Optional;
	// defaults 200ms and 5s.
	BaseBackoff, MaxBackoff time.Duration
	// FetchTimeout bounds one refresh (all attempts). A refresh is shared by
	// every waiting caller, so it runs detached from any single caller's
	// cancellation; this timeout is what stops it. Optional; default 60s.
	FetchTimeout time.Duration
	// AttemptTimeout bounds one attempt, so that an endpoint that accepts
	// the request and then hangs is retried rather than eating the whole
	// FetchTimeout. Optional; default 20s (Google answers in well under a
	// second; HTTP clients' own header timeouts are often 30s or more).
	AttemptTimeout time.Duration
	// RefreshJitter spreads refreshes out. Each fetched token gets an extra
	// lead on top of RefreshBefore, drawn once and uniformly from
	// [0, RefreshJitter): tokens fetched together (a fleet starting at
	// once) then do not all turn stale together one lifetime later, and
	// again the lifetime after. The extra lead never moves the refresh
	// point before half the token's lifetime, and does not change
	// MinRemaining. Optional; default a tenth of each token's lifetime (6
	// minutes for Google's one-hour tokens), which spreads a wave over
	// minutes at the price of about 6% more upstream calls on average. A
	// negative value disables it.
	RefreshJitter time.Duration
	// Rand draws the jitter: a number in [0, 1), once per fetched token,
	// on the refresh's goroutine. A function shared by several providers
	// must be safe for concurrent use. Optional; default math/rand/v2's
	// Float64; tests and simulations pass a seeded source.
	Rand func() float64
	// Now is the clock. Optional; default time.Now.
	Now func() time.Time
}

// validate refuses values that have no meaning. Zero means the default
// throughout, and a negative RefreshJitter disables jitter.
func (o *CacheOptions) validate() error {
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"RefreshBefore", o.RefreshBefore}, {"MinRemaining", o.MinRemaining},
		{"BaseBackoff", o.BaseBackoff}, {"MaxBackoff", o.MaxBackoff},
		{"FetchTimeout", o.FetchTimeout}, {"AttemptTimeout", o.AttemptTimeout},
	} {
		if f.v < 0 {
			return fmt.Errorf("gcptoken: CacheOptions.%s is negative (%s); zero means the default", f.name, f.v)
		}
	}
	if o.MaxAttempts < 0 {
		return fmt.Errorf("gcptoken: CacheOptions.MaxAttempts is negative (%d); zero means the default", o.MaxAttempts)
	}
	return nil
}

func (o *CacheOptions) withDefaults() CacheOptions {
	var c CacheOptions
	if o != nil {
		c = *o
	}
	if c.RefreshBefore <= 0 {
		c.RefreshBefore = 5 * time.Minute
	}
	if c.MinRemaining <= 0 {
		c.MinRemaining = 10 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = 200 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.FetchTimeout <= 0 {
		c.FetchTimeout = 60 * time.Second
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 20 * time.Second
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// NewCachedProvider wraps a plain source with gcptoken's one cache:
//
//   - a fresh token is returned without touching the source;
//   - a stale token (within RefreshBefore, plus a random part of
//     RefreshJitter, of expiry) is returned at once while a single
//     background refresh replaces it;
//   - with no usable token, callers block on one shared refresh: however
//     many goroutines ask at once, the source sees one request;
//   - transient failures are retried with exponential backoff and jitter;
//   - if a refresh fails while the cached token is still usable, the cached
//     token keeps being served; an expired token is never handed out.
//
// It does not wrap a provider that is already cached by this function: it
// returns src itself (with the options src was made with). The providers
// of package credentials are cached this way already; wrap their
// …Source forms to choose other CacheOptions.
//
// A nil src, or an option with no meaning (a negative duration), is an
// error naming it.
func NewCachedProvider(src TokenProvider, opts *CacheOptions) (TokenProvider, error) {
	if src == nil {
		return nil, errors.New("gcptoken: NewCachedProvider: the source is nil")
	}
	if c, ok := src.(*cachedProvider); ok {
		return c, nil
	}
	if opts != nil {
		if err := opts.validate(); err != nil {
			return nil, err
		}
	}
	return &cachedProvider{src: src, opts: opts.withDefaults()}, nil
}

type cachedProvider struct {
	src  TokenProvider
	opts CacheOptions

	// cur is read without the lock, so that serving a fresh token (the
	// common case, e.g. a proxy or metadata server under load) never
	// contends; it is written under mu.
	cur atomic.Pointer[cachedToken]

	mu       sync.Mutex
	inflight *refreshCall // non-nil while a refresh runs
}

// cachedToken is a token and the time it turns stale, fixed when it was
// fetched so that the fresh path is one comparison.
type cachedToken struct {
	tok       *Token
	refreshAt time.Time // zero if the token has no expiry: never fresh
}

// refreshCall is one shared refresh; done closes when tok/err are set.
type refreshCall struct {
	done chan struct{}
	tok  *Token
	err  error
}

func (c *cachedProvider) Token(ctx context.Context) (*Token, error) {
	now := c.opts.Now()
	if cur := c.cur.Load(); cur != nil && now.Before(cur.refreshAt) {
		return cur.tok, nil
	}
	c.mu.Lock()
	cur := c.cur.Load()
	var tok *Token
	if cur != nil {
		tok = cur.tok
	}
	switch {
	case cur != nil && now.Before(cur.refreshAt):
		c.mu.Unlock()
		return tok, nil
	case !tok.ExpiresWithin(now, c.opts.MinRemaining):
		// Stale but usable: serve it, and make sure a refresh is running.
		c.startLocked(ctx)
		c.mu.Unlock()
		return tok, nil
	}
	call := c.startLocked(ctx)
	c.mu.Unlock()

	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if call.err != nil {
		return nil, call.err
	}
	return call.tok, nil
}

// startLocked returns the running refresh, starting one if none runs.
// c.mu must be held.
func (c *cachedProvider) startLocked(ctx context.Context) *refreshCall {
	if c.inflight != nil {
		return c.inflight
	}
	call := &refreshCall{done: make(chan struct{})}
	c.inflight = call
	// Detach from the caller's cancellation (other callers share this
	// refresh) but keep its values, e.g. for tracing.
	fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.FetchTimeout)
	go func() {
		defer cancel()
		tok, err := c.fetch(fetchCtx)
		var cur *cachedToken
		if err == nil {
			cur = &cachedToken{tok: tok, refreshAt: c.refreshAt(tok, c.opts.Now())}
		}
		c.mu.Lock()
		if cur != nil {
			c.cur.Store(cur)
		}
		c.inflight = nil
		c.mu.Unlock()
		call.tok, call.err = tok, err
		close(call.done)
	}()
	return call
}

// refreshAt returns when tok, fetched at now, turns stale: RefreshBefore
// plus a random extra lead below the jitter window before its expiry. The
// extra lead is cut so that it does not move the refresh point before half
// the lifetime; RefreshBefore alone may (a short-lived token is then
// refreshed on every use, as without jitter).
func (c *cachedProvider) refreshAt(tok *Token, now time.Time) time.Time {
	if tok.Expiry.IsZero() {
		return time.Time{}
	}
	lead := c.opts.RefreshBefore
	lifetime := tok.Expiry.Sub(now)
	window := c.opts.RefreshJitter
	if window == 0 {
		window = lifetime / 10
	}
	if room := lifetime/2 - lead; window > 0 && room > 0 {
		extra := time.Duration(c.opts.Rand() * float64(window))
		// Float rounding, or a Rand outside [0, 1), must not leave the
		// window.
		extra = max(0, min(extra, window-1, room))
		lead += extra
	}
	return tok.Expiry.Add(-lead)
}

// fetch calls the source with retries and checks what it returns.
func (c *cachedProvider) fetch(ctx context.Context) (*Token, error) {
	var lastErr error
	for attempt := 0; attempt < c.opts.MaxAttempts; attempt++ {
		if attempt > 0 {
			delay := c.backoff(attempt)
			if d, ok := ctx.Deadline(); ok && time.Until(d) < delay {
				// Sleeping would outlast the deadline: fail now.
				return nil, fmt.Errorf("%w (gave up retrying: deadline in %s)", lastErr, time.Until(d).Round(time.Millisecond))
			}
			if err := sleepCtx(ctx, delay); err != nil {
				return nil, fmt.Errorf("%w (gave up retrying: %v)", lastErr, err)
			}
		}
		actx, cancel := context.WithTimeout(ctx, c.opts.AttemptTimeout)
		tok, err := c.src.Token(actx)
		attemptTimedOut := err != nil && actx.Err() != nil && ctx.Err() == nil
		cancel()
		if attemptTimedOut {
			// This attempt hung, but the refresh has time left: retry.
			lastErr = fmt.Errorf("no answer within %s: %w", c.opts.AttemptTimeout, err)
			continue
		}
		if err == nil {
			if tok == nil || tok.Value == "" {
				return nil, errors.New("token source returned an empty token")
			}
			if err := CheckTokenValue(tok.Value); err != nil {
				// A broken or hostile server: never hand it out, and do
				// not retry what it will send again.
				return nil, fmt.Errorf("token source returned a %s: %w", tok.Kind.describe(), err)
			}
			if !tok.Expiry.IsZero() && tok.ExpiresWithin(c.opts.Now(), c.opts.MinRemaining) {
				return nil, &clockSkewError{expiry: tok.Expiry, within: c.opts.MinRemaining}
			}
			return tok, nil
		}
		lastErr = err
		if !IsTemporary(err) {
			return nil, err
		}
	}
	if c.opts.MaxAttempts > 1 {
		return nil, fmt.Errorf("%w (after %d attempts)", lastErr, c.opts.MaxAttempts)
	}
	return nil, lastErr
}

// backoff returns the delay before retry number attempt (1-based): full
// jitter below min(MaxBackoff, BaseBackoff·2^(attempt-1)).
func (c *cachedProvider) backoff(attempt int) time.Duration {
	ceiling := c.opts.BaseBackoff << (attempt - 1)
	if ceiling > c.opts.MaxBackoff || ceiling <= 0 {
		ceiling = c.opts.MaxBackoff
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// clockSkewError is a token that arrived expired or about to expire.
type clockSkewError struct {
	expiry time.Time
	within time.Duration
}

func (e *clockSkewError) Error() string {
	return fmt.Sprintf("token source returned a token that expires at %s, already within %s: check the clock of this machine and of the token server",
		e.expiry.UTC().Format(time.RFC3339), e.within)
}

func (e *clockSkewError) Is(target error) bool { return target == ErrClockSkew }
