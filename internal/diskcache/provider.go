package diskcache

import (
	"context"
	"errors"
	"fmt"
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
	// Key says which entry to use and what it must have been stored for.
	// Required: Identity and Kind.
	Key KeyParts
	// Source mints a token on a miss. Required. It must make tokens of
	// exactly the identity Key names (for federated credentials, a
	// credentials.Snapshot's).
	Source gcptoken.TokenProvider
	// MinRemaining is the refresh window: a cached token expiring within it
	// is not served. Optional; default DefaultMinRemaining. Negative means
	// no window (a token is served until it expires).
	MinRemaining time.Duration
	// OnError receives cache failures: an unusable directory, a refused
	// entry, a lock error, a token that cannot be cached (no expiry).
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
	}
	if err := p.Key.validate(); err != nil {
		return fmt.Errorf("diskcache.Provider: Key: %w", err)
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
	d, err := p.Cache.open(true)
	if err != nil {
		// The cache is unusable (or not to be trusted); the fetch is not.
		p.report(err)
		return p.fetch(ctx)
	}
	defer d.close()
	window := p.minRemaining()
	if t, err := d.get(p.Key, p.Cache.now(), window); t != nil || err != nil {
		if t != nil {
			return t, nil
		}
		p.report(err)
	}

	unlock, err := d.lock(ctx, Key(p.Key))
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// Waiting on another process's fetch was cancelled: that is the
		// caller's deadline, not a cache problem.
		return nil, err
	case err != nil:
		p.report(err)
	default:
		defer unlock()
		// Another process may have fetched while we waited.
		if t, _ := d.get(p.Key, p.Cache.now(), window); t != nil {
			return t, nil
		}
	}

	t, err := p.fetch(ctx)
	if err != nil {
		return nil, err
	}
	e, err := newEntry(p.Key, t)
	if err == nil {
		err = d.put(p.Key, e)
	}
	p.report(err)
	d.prune(p.Cache.now())
	return t, nil
}

func (p *Provider) fetch(ctx context.Context) (*gcptoken.Token, error) {
	t, err := p.Source.Token(ctx)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, errors.New("diskcache.Provider: Source returned no token and no error")
	}
	return t, nil
}

// lock takes the inter-process lock of key. Lock files are never removed in
// normal operation: unlinking a lock file another process has open would
// let a third process lock a new inode and run concurrently.
func (d *dir) lock(ctx context.Context, key string) (unlock func(), err error) {
	f, _, err := d.openFile(key+lockSuffix, true)
	if err != nil {
		return nil, fmt.Errorf("open token cache lock: %w", err)
	}
	return lockFile(ctx, f)
}
