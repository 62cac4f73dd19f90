package idtoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultCacheSize is the default Options.CacheSize: a service's callers
// each reuse one ID token for up to an hour, so a thousand entries cover a
// thousand distinct callers an hour, in about 1 MB (a Google ID token's
// parsed claims and the entry take about 1 KB).
const DefaultCacheSize = 1000

// verifiedCache remembers the tokens a Verifier has accepted, by the
// SHA-256 of the whole compact token, so that verifying one again costs a
// hash and a map lookup instead of an RSA verification and two JSON
// decodings. Only tokens that passed every check enter it, so a stream of
// forged or expired tokens cannot evict anything.
//
// What a hit skips is only what cannot change for the same bytes under
// the same Verifier: the syntax checks, the algorithm allow-list, the
// signature, the issuer and the audience (a Verifier's options are fixed,
// and each Verifier has a cache of its own). What can change is checked
// again on every hit: that the key set still holds the same key under the
// token's kid (a refetch that dropped or replaced it revokes the token) and
// the time claims, with the Verifier's clock and skew.
//
// No timing side channel: the map's key is 64 bits of the hash, which an
// attacker cannot steer toward a cached token's without knowing the token,
// and the full 32-byte hash is then compared in constant time, so two
// tokens whose short keys collide are never confused, and a near miss
// takes as long as a far one. That a hit is faster than a miss tells the
// caller only that the exact token they sent was accepted before, which
// sending it tells them anyway.
type verifiedCache struct {
	size int
	// short is the map key of a hash; tests replace it to force
	// collisions.
	short func(sum [sha256.Size]byte) uint64

	mu      sync.Mutex
	entries map[uint64]*cacheEntry // made on the first put
	// newest and oldest end the list of entries by last use, for LRU
	// eviction.
	newest, oldest *cacheEntry
}

// cacheEntry is one verified token. Every field but the list links is
// immutable once the entry is in the cache.
type cacheEntry struct {
	sum    [sha256.Size]byte
	short  uint64
	kid    string
	alg    string
	key    crypto.PublicKey // the key that verified the signature
	claims *Claims

	newer, older *cacheEntry // guarded by verifiedCache.mu
}

func newVerifiedCache(size int) *verifiedCache {
	if size <= 0 {
		return nil
	}
	return &verifiedCache{size: size, short: shortKey}
}

func shortKey(sum [sha256.Size]byte) uint64 { return binary.LittleEndian.Uint64(sum[:8]) }

// get returns the entry of the token whose hash is sum, or nil, and marks
// it as just used.
func (c *verifiedCache) get(sum *[sha256.Size]byte) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[c.short(*sum)]
	if e == nil || subtle.ConstantTimeCompare(e.sum[:], sum[:]) != 1 {
		return nil
	}
	c.unlink(e)
	c.pushNewest(e)
	return e
}

// put adds e, replacing any entry with the same short key and evicting
// the least recently used entries beyond the size.
func (c *verifiedCache) put(e *cacheEntry) {
	e.short = c.short(e.sum)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[uint64]*cacheEntry, min(c.size, 64))
	}
	if old := c.entries[e.short]; old != nil {
		c.unlink(old)
	}
	c.entries[e.short] = e
	c.pushNewest(e)
	for len(c.entries) > c.size {
		old := c.oldest
		c.unlink(old)
		delete(c.entries, old.short)
	}
}

// remove drops e if it is still cached.
func (c *verifiedCache) remove(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[e.short] == e {
		c.unlink(e)
		delete(c.entries, e.short)
	}
}

func (c *verifiedCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *verifiedCache) pushNewest(e *cacheEntry) {
	e.older, e.newer = c.newest, nil
	if c.newest != nil {
		c.newest.newer = e
	}
	c.newest = e
	if c.oldest == nil {
		c.oldest = e
	}
}

func (c *verifiedCache) unlink(e *cacheEntry) {
	if e.newer != nil {
		e.newer.older = e.older
	} else if c.newest == e {
		c.newest = e.older
	}
	if e.older != nil {
		e.older.newer = e.newer
	} else if c.oldest == e {
		c.oldest = e.newer
	}
	e.newer, e.older = nil, nil
}

// tokenHasher hashes a token without converting it to a []byte, which
// would allocate a copy on every call: the token goes through a buffer
// that is pooled with the hash.
type tokenHasher struct {
	h   hash.Hash
	buf [1024]byte
	out [sha256.Size]byte
}

var hashers = sync.Pool{New: func() any { return &tokenHasher{h: sha256.New()} }}

func tokenHash(token string) (sum [sha256.Size]byte) {
	th := hashers.Get().(*tokenHasher)
	th.h.Reset()
	for s := token; s != ""; {
		n := copy(th.buf[:], s)
		th.h.Write(th.buf[:n])
		s = s[n:]
	}
	th.h.Sum(th.out[:0])
	sum = th.out
	hashers.Put(th)
	return sum
}

// sameKey reports whether a and b are the same public key. A key set that
// has not been refetched hands out the very same pointer, which is
// checked first: the Equal methods of RSA and ECDSA keys allocate.
func sameKey(a, b crypto.PublicKey) bool {
	switch a := a.(type) {
	case *rsa.PublicKey:
		if b, ok := b.(*rsa.PublicKey); ok && a == b {
			return true
		}
	case *ecdsa.PublicKey:
		if b, ok := b.(*ecdsa.PublicKey); ok && a == b {
			return true
		}
	}
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// maxHeaders bounds headerCache. Google signs every token of a key with
// the same header, and publishes two or three keys at a time.
const maxHeaders = 16

// headerCache remembers the parsed header segments of tokens that
// verified, so that a first verification of another token with the same
// header (every token Google signs with that key) skips the header's
// base64 and JSON decoding. The segment is the map key: only the same
// bytes get the same parse. Only headers of verified tokens enter, so a
// stream of made-up headers cannot fill it; full, it starts over.
type headerCache struct {
	m atomic.Pointer[map[string]jwsHeader] // copied on write
}

func (c *headerCache) get(seg string) (jwsHeader, bool) {
	m := c.m.Load()
	if m == nil {
		return jwsHeader{}, false
	}
	h, ok := (*m)[seg]
	return h, ok
}

// add remembers h as the parse of seg. Two concurrent adds may lose one of
// the two entries, which only costs that header one more parse.
func (c *headerCache) add(seg string, h jwsHeader) {
	next := make(map[string]jwsHeader, maxHeaders)
	if old := c.m.Load(); old != nil && len(*old) < maxHeaders {
		maps.Copy(next, *old)
	}
	next[strings.Clone(seg)] = h // not a slice of the whole token
	c.m.Store(&next)
}
