package idtoken_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/idtoken"
)

// TestSecurityMiddlewareHidesExpectedAudience: an unauthenticated caller
// probing a protected service with a token for another audience must not
// learn the audience the service expects (its internal URL, an IAP backend
// id) from the 401 body or the WWW-Authenticate challenge, and then mint a
// token for it elsewhere. The detail goes to the server's log.
func TestSecurityMiddlewareHidesExpectedAudience(t *testing.T) {
	t.Parallel()
	const secretAud = "/projects/123456789/global/backendServices/987654321"
	v := newVerifier(t, &idtoken.Options{Audiences: []string{secretAud}, KeySet: staticKeys(t), Now: func() time.Time { return testNow }})
	var log strings.Builder
	h := idtoken.Middleware(v, &idtoken.MiddlewareOptions{Logger: slog.New(slog.NewTextHandler(&log, nil))})(echo)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+rs256(t, googleClaims())) // for testAud
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("status %d; want 401", w.Code)
	}
	if leak := w.Body.String() + w.Header().Get("WWW-Authenticate"); strings.Contains(leak, "987654321") {
		t.Errorf("the response names the expected audience: %q", leak)
	}
	if !strings.Contains(log.String(), "987654321") {
		t.Errorf("log = %q; want the expected audience there, for the operator", log.String())
	}
}

// TestSecurityVerifierCacheTamperedToken: an attacker who has seen a valid
// token sends variants of it (a changed signature, changed claims under
// the original signature, a truncated token) hoping that the cache of
// verified tokens matches them to the original by a prefix or a short
// key. Each must be verified on its own and refused, also when every
// short key collides; and a different valid token whose short key
// collides gets its own claims, never the cached token's.
func TestSecurityVerifierCacheTamperedToken(t *testing.T) {
	t.Parallel()
	for _, collide := range []bool{false, true} {
		t.Run(fmt.Sprintf("colliding short keys %t", collide), func(t *testing.T) {
			t.Parallel()
			v := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: staticKeys(t), Now: func() time.Time { return testNow }})
			if collide {
				idtoken.CollideCacheKeys(v)
			}
			good := rs256(t, googleClaims())
			mustVerify(t, v, good)
			dot := strings.LastIndexByte(good, '.')
			for _, tc := range []struct{ name, token string }{
				{"changed signature", tamper(good, 2)},
				{"last character changed", lastCharChanged(good)},
				{"changed claims, original signature", swapClaims(t, good, with(map[string]any{"email": "admin@example.com"}))},
				{"signature cut short", good[:len(good)-4]},
				{"no signature", good[:dot+1]},
			} {
				if tc.token == good {
					t.Fatalf("%s: the variant is the original token", tc.name)
				}
				if c, err := v.Verify(context.Background(), tc.token); err == nil {
					t.Errorf("%s: accepted (subject %q)", tc.name, c.Subject)
				}
			}
			other := subjectToken(t, "another-caller")
			if c := mustVerify(t, v, other); c.Subject != "another-caller" {
				t.Errorf("another valid token verified as subject %q; want its own, %q", c.Subject, "another-caller")
			}
			if c := mustVerify(t, v, good); c.Subject != googleClaims()["sub"] {
				t.Errorf("the original token verified as subject %q after another", c.Subject)
			}
		})
	}
}

// TestSecurityVerifierCacheExpiredToken: a token accepted while valid
// must not stay accepted from the cache once it expires: it is refused at
// exp plus the clock skew, exactly as on a first verification.
func TestSecurityVerifierCacheExpiredToken(t *testing.T) {
	t.Parallel()
	clock := newClock()
	v := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: staticKeys(t), Now: clock.Now})
	tok := rs256(t, googleClaims()) // exp = testNow + 1h
	mustVerify(t, v, tok)
	clock.Advance(time.Hour + idtoken.DefaultClockSkew - time.Nanosecond)
	mustVerify(t, v, tok)
	clock.Advance(time.Nanosecond)
	_, err := v.Verify(context.Background(), tok)
	wantReason(t, "cached token at its expiry", err, idtoken.ReasonExpired)
}

// TestSecurityVerifierCacheRevokedKey: when Google stops publishing a key
// (rotation, or a compromised key withdrawn) or publishes another key
// under its kid, tokens it signed must be refused after the refetch that
// shows it, including tokens accepted before and held in the cache. The
// refetch comes either from the key set's max-age running out or from a
// token that names a new kid.
func TestSecurityVerifierCacheRevokedKey(t *testing.T) {
	t.Parallel()
	const newKid = "new-key"
	newKey := rsaJWK(newKid, &keys().other.PublicKey)
	for _, tc := range []struct {
		name       string
		published  []map[string]string // after the change
		refetch    string              // "max-age" or "new kid"
		wantReason string
	}{
		{"key removed, max-age over", []map[string]string{newKey}, "max-age", idtoken.ReasonUnknownKey},
		{"key removed, new kid seen", []map[string]string{newKey}, "new kid", idtoken.ReasonUnknownKey},
		{"kid reused for another key", []map[string]string{rsaJWK(rsaKid, &keys().other.PublicKey), newKey}, "new kid", idtoken.ReasonSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			srv := newJWKSServer(t, rsaJWK(rsaKid, &keys().rsa.PublicKey))
			srv.set(http.StatusOK, jwksBody(rsaJWK(rsaKid, &keys().rsa.PublicKey)), http.Header{"Cache-Control": {"max-age=300"}})
			ks, err := idtoken.NewKeySet(&idtoken.KeySetOptions{URL: srv.URL, Now: clock.Now, MinRefreshInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			v := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: ks, Now: clock.Now})
			tok := rs256(t, googleClaims())
			mustVerify(t, v, tok)
			mustVerify(t, v, tok)

			srv.set(http.StatusOK, jwksBody(tc.published...), http.Header{"Cache-Control": {"max-age=300"}})
			switch tc.refetch {
			case "max-age":
				clock.Advance(301 * time.Second)
			case "new kid":
				fresh := signRaw(t, map[string]string{"alg": "RS256", "kid": newKid, "typ": "JWT"}, googleClaims(), keys().other)
				mustVerify(t, v, fresh)
			}
			_, err = v.Verify(context.Background(), tok)
			wantReason(t, "token of the withdrawn key", err, tc.wantReason)
		})
	}
}

// lastCharChanged changes the last character of an RS256-2048 token's
// signature (256 bytes: its last base64url character carries two bits)
// to another canonical one.
func lastCharChanged(tok string) string {
	const canonical = "AQgw"
	i := strings.IndexByte(canonical, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(canonical[(i+1)%len(canonical)])
}
