package idtoken_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/idtoken"
)

// subjectToken is a valid token whose sub is sub, so that tokens differ.
func subjectToken(t testing.TB, sub string) string {
	t.Helper()
	return rs256(t, with(map[string]any{"sub": sub}))
}

func mustVerify(t *testing.T, v *idtoken.Verifier, tok string) *idtoken.Claims {
	t.Helper()
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return c
}

func wantReason(t *testing.T, what string, err error, reason string) {
	t.Helper()
	if got := idtoken.ReasonOf(err); got != reason {
		t.Errorf("%s: error = %v (reason %q); want reason %q", what, err, got, reason)
	}
}

func TestVerifierCacheHit(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: staticKeys(t), Now: func() time.Time { return testNow }})
	tok := rs256(t, googleClaims())
	first := mustVerify(t, v, tok)
	if n := idtoken.CacheLen(v); n != 1 {
		t.Fatalf("after one verification the cache holds %d tokens; want 1", n)
	}
	if again := mustVerify(t, v, tok); again != first {
		t.Errorf("second Verify returned other claims (%p, first %p): not answered from the cache", again, first)
	}
	if _, err := v.Verify(context.Background(), tamper(tok, 2)); err == nil {
		t.Fatal("a tampered token was accepted")
	}
	if n := idtoken.CacheLen(v); n != 1 {
		t.Errorf("after a rejected token the cache holds %d tokens; want 1: refusals are not remembered", n)
	}
}

func TestVerifierCacheDisabled(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: staticKeys(t), Now: func() time.Time { return testNow }, CacheSize: -1})
	tok := rs256(t, googleClaims())
	first := mustVerify(t, v, tok)
	if again := mustVerify(t, v, tok); again == first {
		t.Error("with CacheSize -1 the second Verify returned the first one's claims")
	}
	if n := idtoken.CacheLen(v); n != 0 {
		t.Errorf("with CacheSize -1 the cache holds %d tokens; want 0", n)
	}
}

// The cache is bounded by CacheSize and drops the least recently used
// token first.
func TestVerifierCacheEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	const size = 3
	v := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: staticKeys(t), Now: func() time.Time { return testNow }, CacheSize: size})
	toks := make([]string, 8)
	for i := range toks {
		toks[i] = subjectToken(t, fmt.Sprint("caller-", i))
	}
	for i, tok := range toks {
		mustVerify(t, v, tok)
		if n, want := idtoken.CacheLen(v), min(i+1, size); n != want {
			t.Fatalf("after %d tokens the cache holds %d; want %d", i+1, n, want)
		}
	}
	// Cached now: 5, 6, 7. Using 5 makes 6 the least recently used.
	mustVerify(t, v, toks[5])
	mustVerify(t, v, toks[0])
	for i, want := range map[int]bool{0: true, 5: true, 7: true, 6: false, 4: false} {
		if got := idtoken.CacheHas(v, toks[i]); got != want {
			t.Errorf("token %d cached = %t; want %t", i, got, want)
		}
	}
}

// Each Verifier has a cache of its own: a token another Verifier accepted
// is checked against this one's audience, even over a shared key set.
func TestVerifierCacheIsPerVerifier(t *testing.T) {
	t.Parallel()
	keys := staticKeys(t)
	now := func() time.Time { return testNow }
	mine := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: keys, Now: now})
	other := newVerifier(t, &idtoken.Options{Audiences: []string{"https://other.a.run.app"}, KeySet: keys, Now: now})
	tok := rs256(t, googleClaims())
	mustVerify(t, mine, tok)
	mustVerify(t, mine, tok)
	_, err := other.Verify(context.Background(), tok)
	wantReason(t, "another Verifier's cached token", err, idtoken.ReasonAudience)
}

// A cached token is judged by the clock of each call: moved back before
// its issue time (beyond the skew), it is not valid yet, as on a first
// verification.
func TestVerifierCacheRechecksTimes(t *testing.T) {
	t.Parallel()
	clock := newClock()
	v := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: staticKeys(t), Now: clock.Now})
	tok := rs256(t, googleClaims())
	mustVerify(t, v, tok)
	clock.Advance(-idtoken.DefaultClockSkew - time.Second)
	_, err := v.Verify(context.Background(), tok)
	wantReason(t, "cached token before its iat", err, idtoken.ReasonNotYetValid)
	clock.Advance(2 * time.Second)
	mustVerify(t, v, tok)
}

// Middleware's allow-list applies to every request, also when the token
// is answered from the cache.
func TestVerifierCacheMiddlewareAllowList(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: staticKeys(t), Now: func() time.Time { return testNow }})
	tok := rs256(t, googleClaims())
	mustVerify(t, v, tok) // cached before the middleware sees it
	h := idtoken.Middleware(v, &idtoken.MiddlewareOptions{AllowedEmails: []string{"someone-else@example.com"}, Logger: slog.New(slog.DiscardHandler)})(echo)
	for i := range 2 {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusForbidden {
			t.Errorf("request %d: status %d; want 403", i+1, w.Code)
		}
	}
}

// Concurrent callers verifying more tokens than the cache holds each get
// their own token's claims (run with -race).
func TestVerifierCacheConcurrent(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: staticKeys(t), Now: func() time.Time { return testNow }, CacheSize: 2})
	subs := []string{"a", "b", "c", "d"}
	toks := make([]string, len(subs))
	for i, s := range subs {
		toks[i] = subjectToken(t, s)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				k := (g + i) % len(toks)
				c, err := v.Verify(context.Background(), toks[k])
				if err != nil {
					t.Errorf("Verify: %v", err)
					return
				}
				if c.Subject != subs[k] {
					t.Errorf("token of %q verified as %q", subs[k], c.Subject)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := idtoken.CacheLen(v); n > 2 {
		t.Errorf("the cache holds %d tokens; want at most 2", n)
	}
}

// The parsed headers a Verifier remembers are those of verified tokens
// only, at most 16 of them, and serve other tokens with the same header.
func TestVerifierHeaderCache(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: staticKeys(t), Now: func() time.Time { return testNow }})
	header := func(i int) map[string]string {
		return map[string]string{"alg": "RS256", "kid": rsaKid, "typ": "JWT", "x": fmt.Sprint(i)}
	}
	if _, err := v.Verify(context.Background(), signRaw(t, header(-1), googleClaims(), keys().other)); err == nil {
		t.Fatal("a token signed by the wrong key was accepted")
	}
	if n := idtoken.HeaderCacheLen(v); n != 0 {
		t.Errorf("after a rejected token %d headers are remembered; want 0", n)
	}
	for i := range 20 {
		mustVerify(t, v, signRaw(t, header(i), googleClaims(), keys().rsa))
		// Another token with the same header: its header's parse is the
		// remembered one, its claims are its own.
		if c := mustVerify(t, v, signRaw(t, header(i), with(map[string]any{"sub": "other"}), keys().rsa)); c.Subject != "other" {
			t.Fatalf("subject %q; want %q", c.Subject, "other")
		}
		if n := idtoken.HeaderCacheLen(v); n < 1 || n > 16 {
			t.Fatalf("after %d tokens %d headers are remembered; want 1 to 16", i+1, n)
		}
	}
}
