package credentials

import (
	"context"
	"strings"
	"sync"

	"github.com/gcptoken/gcptoken"
)

// AccessToken returns an access token for scopes (none: as
// AccessTokenProvider), from a cached provider that c keeps per scope set:
// call it for every use, and the token endpoint sees one request per
// token lifetime, however many goroutines ask.
func (c *Credentials) AccessToken(ctx context.Context, scopes ...string) (*gcptoken.Token, error) {
	tp, err := c.memoized("a\x00"+strings.Join(scopes, " "), func() (gcptoken.TokenProvider, error) {
		return c.AccessTokenProvider(scopes)
	})
	if err != nil {
		return nil, err
	}
	return tp.Token(ctx)
}

// IDToken returns an ID token for audience from a cached provider that c
// keeps per audience, as AccessToken does per scope set.
func (c *Credentials) IDToken(ctx context.Context, audience string) (*gcptoken.Token, error) {
	tp, err := c.memoized("i\x00"+audience, func() (gcptoken.TokenProvider, error) {
		return c.IDTokenProvider(audience, nil)
	})
	if err != nil {
		return nil, err
	}
	return tp.Token(ctx)
}

// maxMemoProviders bounds the providers one Credentials keeps (scope sets
// and audiences); past it they are made afresh.
const maxMemoProviders = 64

// tokenMemo is the providers of AccessToken and IDToken, by kind and
// scopes or audience. It belongs to one principal: a copy of a Credentials
// made for another one (WithSubject, Snapshot) must get a new tokenMemo,
// or it would hand out the source's tokens.
type tokenMemo struct {
	mu        sync.Mutex
	providers map[string]gcptoken.TokenProvider
}

func newTokenMemo() *tokenMemo {
	return &tokenMemo{providers: map[string]gcptoken.TokenProvider{}}
}

// memoized returns the provider for key, making it with mk (which makes no
// request) the first time.
func (c *Credentials) memoized(key string, mk func() (gcptoken.TokenProvider, error)) (gcptoken.TokenProvider, error) {
	if c == nil || c.impl == nil || c.memo == nil {
		return nil, errNotLoaded
	}
	m := c.memo
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.providers[key]; ok {
		return p, nil
	}
	p, err := mk()
	if err != nil {
		return nil, err
	}
	if len(m.providers) >= maxMemoProviders {
		clear(m.providers)
	}
	m.providers[key] = p
	return p, nil
}
