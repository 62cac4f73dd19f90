package idtoken

import "crypto/sha256"

// CacheLen is the number of tokens v's cache of verified tokens holds.
func CacheLen(v *Verifier) int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}

// CacheHas reports whether v's cache holds token.
func CacheHas(v *Verifier, token string) bool {
	if v.cache == nil {
		return false
	}
	sum := tokenHash(token)
	v.cache.mu.Lock()
	defer v.cache.mu.Unlock()
	e := v.cache.entries[v.cache.short(sum)]
	return e != nil && e.sum == sum
}

// CollideCacheKeys gives every token the same short cache key, as if
// every pair of tokens collided; call it before v is used.
func CollideCacheKeys(v *Verifier) {
	v.cache.short = func([sha256.Size]byte) uint64 { return 42 }
}

// HeaderCacheLen is the number of parsed headers v remembers.
func HeaderCacheLen(v *Verifier) int {
	m := v.headers.m.Load()
	if m == nil {
		return 0
	}
	return len(*m)
}
