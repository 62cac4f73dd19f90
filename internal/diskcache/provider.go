package diskcache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gcptoken/gcptoken"
)

// DefaultMinRemaining is the refresh window Provider uses when MinRemaining
// is zero. A CLI prints a token for a script to use; one that dies seconds
// later is worse than a fresh fetch.
const DefaultMinRemaining = 5 * time.Minute

// Provider is a TokenProvider that serves from a Cache and, on a miss,
// fetches from Source while holding a per-key lock shared by every process
// on the machine, so concurrent invocations make one request between them.
// A Provider is safe for concurrent use.
type Provider struct {
	// Cache is where tokens are stored. Required.
	Cache *Cache
	// Key is the entry to use, normally Key(parts). Required.
	Key string
	// Source mints a token on a miss. Required.
	Source gcptoken.TokenProvider
	// MinRemaining is the refresh window: a cached token expiring within it
	// is not served. Optional; default DefaultMinRemaining. Negative means
	// no window (a token is served until it expires).
	MinRemaining time.Duration
	// OnError receives cache failures: an unusable directory, a lock
	// error, a token that cannot be cached (no expiry).
	// They never fail Token, because the cache is an optimisation and the
	// fetched token is still good. Optional; default: ignore.
	OnError func(error)
}

func (p *Provider) validate() error {
	switch {
	case p.Cache == nil:
		return errors.New("diskcache.Provider: Cache is required")
	case p.Source == nil:
		return errors.New("diskcache.Provider: Source is required")
	case !validKey(p.Key):
		return fmt.Errorf("diskcache.Provider: invalid Key %q", p.Key)
	}
	return nil
}

func (p *Provider) minRemaining() time.Duration {
	if p.MinRemaining == 0 {
		return DefaultMinRemaining
	}
	return p.MinRemaining
}

func (p *Provider) report(err error) {
	if p.OnError != nil && err != nil {
		p.OnError(err)
	}
}

// Token returns a cached token if one is valid for at least MinRemaining,
// and otherwise fetches one from Source and caches it. Errors from Source
// are returned unchanged, so callers can still inspect them with errors.As.
func (p *Provider) Token(ctx context.Context) (*gcptoken.Token, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	window := p.minRemaining()
	if t, ok := p.Cache.Get(p.Key, window); ok {
		return t, nil
	}

	// The lock lives next to the entry, so the directory must exist first.
	// If it cannot be made, the cache is unusable but the fetch is not.
	if err := p.Cache.ensureDir(); err != nil {
		p.report(err)
	} else if unlock, err := lockFile(ctx, p.Cache.path(p.Key, lockSuffix)); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// Waiting on another process's fetch was cancelled: that is
			// the caller's deadline, not a cache problem.
			return nil, err
		}
		p.report(err)
	} else {
		defer unlock()
		// Another process may have fetched while we waited.
		if t, ok := p.Cache.Get(p.Key, window); ok {
			return t, nil
		}
	}

	t, err := p.Source.Token(ctx)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, errors.New("diskcache.Provider: Source returned no token and no error")
	}
	if err := p.Cache.Put(p.Key, t); err != nil {
		p.report(err)
	}
	return t, nil
}

// openLockFile opens (creating if needed) the lock file. Lock files are
// never removed in normal operation: unlinking a lock file another process
// has open would let a third process lock a new inode and run concurrently.
func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open token cache lock: %w", err)
	}
	return f, nil
}
