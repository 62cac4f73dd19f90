package idtoken_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/idtoken"
)

func newKeySet(t *testing.T, url string, clock *testClock) *idtoken.KeySet {
	t.Helper()
	ks, err := idtoken.NewKeySet(&idtoken.KeySetOptions{URL: url, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// wantKey asks ks for kid and checks it got a key or the error reason.
func wantKey(t *testing.T, ks *idtoken.KeySet, kid, wantReason string) error {
	t.Helper()
	k, err := ks.Key(t.Context(), kid)
	switch {
	case wantReason == "" && err != nil:
		t.Fatalf("Key(%q): %v", kid, err)
	case wantReason == "" && k == nil:
		t.Fatalf("Key(%q) = nil", kid)
	case wantReason != "" && idtoken.ReasonOf(err) != wantReason:
		t.Fatalf("Key(%q) = %v, %v; want reason %q", kid, k, err, wantReason)
	}
	return err
}

func wantRequests(t *testing.T, srv *jwksServer, want int64) {
	t.Helper()
	if got := srv.requests.Load(); got != want {
		t.Fatalf("JWKS requests = %d; want %d", got, want)
	}
}

func TestKeySetHonoursMaxAgeMinusAge(t *testing.T) {
	t.Parallel()
	srv := googleJWKS(t)
	srv.set(http.StatusOK, jwksBody(rsaJWK(rsaKid, &keys().rsa.PublicKey)), http.Header{
		"Cache-Control": {"public, max-age=3600, must-revalidate, no-transform"}, "Age": {"600"}})
	clock := newClock()
	ks := newKeySet(t, srv.URL, clock)

	wantKey(t, ks, rsaKid, "")
	wantRequests(t, srv, 1)
	clock.Advance(2999 * time.Second)
	wantKey(t, ks, rsaKid, "")
	wantRequests(t, srv, 1)
	clock.Advance(2 * time.Second) // 3001 s: past max-age minus Age
	wantKey(t, ks, rsaKid, "")
	wantRequests(t, srv, 2)
}

func TestKeySetWithoutMaxAge(t *testing.T) {
	t.Parallel()
	for _, cc := range []string{"", "no-cache", "no-store, max-age=3600", "max-age=oops", "max-age=0"} {
		t.Run(cc, func(t *testing.T) {
			t.Parallel()
			srv := googleJWKS(t)
			h := http.Header{}
			if cc != "" {
				h.Set("Cache-Control", cc)
			}
			srv.set(http.StatusOK, jwksBody(rsaJWK(rsaKid, &keys().rsa.PublicKey)), h)
			clock := newClock()
			ks := newKeySet(t, srv.URL, clock)
			wantKey(t, ks, rsaKid, "")
			// Not cacheable, but refetched at most once per MinRefreshInterval.
			clock.Advance(idtoken.DefaultMinRefreshInterval - time.Second)
			wantKey(t, ks, rsaKid, "")
			wantRequests(t, srv, 1)
			clock.Advance(time.Second)
			wantKey(t, ks, rsaKid, "")
			wantRequests(t, srv, 2)
		})
	}
}

func TestKeySetRefetchesUnknownKidRateLimited(t *testing.T) {
	t.Parallel()
	srv := googleJWKS(t)
	srv.set(http.StatusOK, jwksBody(rsaJWK(rsaKid, &keys().rsa.PublicKey)), http.Header{"Cache-Control": {"max-age=21600"}})
	clock := newClock()
	ks := newKeySet(t, srv.URL, clock)

	wantKey(t, ks, rsaKid, "")
	wantRequests(t, srv, 1)
	// Google publishes a new key; the cache is fresh for hours.
	srv.set(http.StatusOK, jwksBody(rsaJWK(rsaKid, &keys().rsa.PublicKey), rsaJWK(otherKid, &keys().other.PublicKey)), http.Header{"Cache-Control": {"max-age=21600"}})

	// Within the rate limit of the first fetch: no refetch.
	clock.Advance(10 * time.Second)
	err := wantKey(t, ks, otherKid, idtoken.ReasonUnknownKey)
	if !strings.Contains(err.Error(), `signing key "`+otherKid+`" is not in the key set at `+srv.URL) {
		t.Errorf("error = %q; want it to name the kid and the URL", err)
	}
	wantRequests(t, srv, 1)

	clock.Advance(idtoken.DefaultMinRefreshInterval)
	wantKey(t, ks, otherKid, "")
	wantRequests(t, srv, 2)

	// A stream of made-up kids costs one fetch per interval.
	for range 50 {
		wantKey(t, ks, "made-up", idtoken.ReasonUnknownKey)
	}
	wantRequests(t, srv, 2)
	clock.Advance(idtoken.DefaultMinRefreshInterval)
	for range 50 {
		wantKey(t, ks, "made-up", idtoken.ReasonUnknownKey)
	}
	wantRequests(t, srv, 3)
	// Known keys never wait for the limiter.
	wantKey(t, ks, rsaKid, "")
	wantRequests(t, srv, 3)
}

func TestKeySetWithoutRateLimit(t *testing.T) {
	t.Parallel()
	srv := googleJWKS(t)
	ks, err := idtoken.NewKeySet(&idtoken.KeySetOptions{URL: srv.URL, MinRefreshInterval: -1, Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		wantKey(t, ks, "made-up", idtoken.ReasonUnknownKey)
	}
	wantRequests(t, srv, 3)
	wantKey(t, ks, rsaKid, "") // fresh per max-age: no fetch
	wantRequests(t, srv, 3)
}

func TestKeySetOneFetchForConcurrentCallers(t *testing.T) {
	t.Parallel()
	srv := googleJWKS(t)
	release := make(chan struct{})
	srv.mu.Lock()
	srv.delay = release
	srv.mu.Unlock()
	ks := newKeySet(t, srv.URL, newClock())
	v := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: ks, Now: func() time.Time { return testNow }})
	tok := rs256(t, googleClaims())

	const callers = 100
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), tok)
			errs <- err
		})
	}
	// Let the callers pile up behind the one slow request.
	deadline := time.Now().Add(5 * time.Second)
	for srv.requests.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	wantRequests(t, srv, 1)
}

func TestKeySetKeepsStaleKeysWhenRefetchFails(t *testing.T) {
	t.Parallel()
	srv := googleJWKS(t)
	srv.set(http.StatusOK, jwksBody(rsaJWK(rsaKid, &keys().rsa.PublicKey)), http.Header{"Cache-Control": {"max-age=60"}})
	clock := newClock()
	ks := newKeySet(t, srv.URL, clock)
	wantKey(t, ks, rsaKid, "")

	srv.set(http.StatusInternalServerError, []byte(`{"error":{"code":500,"message":"backend error"}}`), nil)
	clock.Advance(2 * time.Minute) // the keys are stale
	wantKey(t, ks, rsaKid, "")     // refetch fails; the stale key is still used
	wantRequests(t, srv, 2)
	// An unknown kid cannot be decided while the endpoint fails.
	err := wantKey(t, ks, otherKid, idtoken.ReasonKeySet)
	if !strings.Contains(err.Error(), srv.URL) || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("error = %q; want the URL and HTTP 500", err)
	}
	if !gcptoken.IsUnavailable(err) {
		t.Errorf("IsUnavailable(%v) = false; want true", err)
	}
	wantRequests(t, srv, 2) // rate-limited: the failure is remembered

	// The endpoint recovers.
	srv.set(http.StatusOK, jwksBody(rsaJWK(rsaKid, &keys().rsa.PublicKey), rsaJWK(otherKid, &keys().other.PublicKey)), http.Header{"Cache-Control": {"max-age=60"}})
	clock.Advance(idtoken.DefaultMinRefreshInterval)
	wantKey(t, ks, otherKid, "")
	wantRequests(t, srv, 3)
}

func TestKeySetEndpointFailures(t *testing.T) {
	t.Parallel()
	down := googleJWKS(t)
	down.Close()
	tests := []struct {
		name        string
		status      int
		body        string
		url         string // overrides the server's
		wantMsg     string
		unavailable bool
	}{
		{"garbage", 200, "<html>hello</html>", "", "response is not a JWKS", false},
		{"truncated", 200, `{"keys":[{"kty":"RSA"`, "", "response is not a JWKS", false},
		{"no keys list", 200, `{"foo":1}`, "", `no "keys" list`, false},
		{"empty list", 200, `{"keys":[]}`, "", "JWKS has no keys", false},
		{"only symmetric keys", 200, `{"keys":[{"kty":"oct","kid":"` + rsaKid + `","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`, "", `no usable signature key (key 0: kty "oct")`, false},
		{"encryption key", 200, `{"keys":[{"kty":"RSA","use":"enc","kid":"x","n":"AQAB","e":"AQAB"}]}`, "", `use "enc"`, false},
		{"bad RSA key", 200, `{"keys":[{"kty":"RSA","kid":"x","n":"AQAB","e":"AQAB"}]}`, "", `key "x"`, false},
		{"HTTP 500", 500, "backend error", "", "HTTP 500: backend error", true},
		{"HTTP 404", 404, "not found", "", "HTTP 404", false},
		{"down", 0, "", down.URL, "fetch ID-token signing keys from " + down.URL, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := googleJWKS(t)
			srv.set(tt.status, []byte(tt.body), nil)
			url := srv.URL
			if tt.url != "" {
				url = tt.url
			}
			ks := newKeySet(t, url, newClock())
			err := wantKey(t, ks, rsaKid, idtoken.ReasonKeySet)
			if !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error = %q; want it to name %s and contain %q", err, url, tt.wantMsg)
			}
			if got := gcptoken.IsUnavailable(err); got != tt.unavailable {
				t.Errorf("IsUnavailable = %v; want %v", got, tt.unavailable)
			}
			var ve *idtoken.VerifyError
			if !errors.As(err, &ve) || ve.Err == nil {
				t.Errorf("error %v has no cause in VerifyError.Err", err)
			}
		})
	}
}

func TestKeySetSkipsUnusableKeys(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t,
		map[string]string{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},
		map[string]string{"kty": "RSA", "kid": "", "n": "AQAB", "e": "AQAB"},
		rsaJWK(rsaKid, &keys().rsa.PublicKey),
		ecJWK(ecKid, &keys().ec.PublicKey),
	)
	ks := newKeySet(t, srv.URL, newClock())
	k, err := ks.Key(t.Context(), rsaKid)
	if err != nil || !keys().rsa.PublicKey.Equal(k) {
		t.Errorf("Key(rsa) = %v, %v; want the RSA test key", k, err)
	}
	k, err = ks.Key(t.Context(), ecKid)
	if ec, ok := k.(*ecdsa.PublicKey); err != nil || !ok || !ec.Equal(&keys().ec.PublicKey) {
		t.Errorf("Key(ec) = %v, %v; want the EC test key", k, err)
	}
	wantKey(t, ks, "hmac", idtoken.ReasonUnknownKey)
}

func TestStaticKeySet(t *testing.T) {
	t.Parallel()
	if _, err := idtoken.NewStaticKeySet(nil); err == nil {
		t.Error("NewStaticKeySet(nil) succeeded; want an error")
	}
	if _, err := idtoken.NewStaticKeySet(map[string]crypto.PublicKey{"k": []byte("secret")}); err == nil || !strings.Contains(err.Error(), "unsupported key type []uint8") {
		t.Errorf("NewStaticKeySet(HMAC secret) error = %v; want unsupported key type", err)
	}
	if _, err := idtoken.NewStaticKeySet(map[string]crypto.PublicKey{"": &keys().rsa.PublicKey}); err == nil {
		t.Error("NewStaticKeySet with an empty kid succeeded; want an error")
	}
	ks := staticKeys(t)
	wantKey(t, ks, rsaKid, "")
	wantKey(t, ks, "other", idtoken.ReasonUnknownKey)
}

func TestNewKeySetValidates(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"ftp://x/certs", "/oauth2/v3/certs", "http://"} {
		if _, err := idtoken.NewKeySet(&idtoken.KeySetOptions{URL: u}); err == nil {
			t.Errorf("NewKeySet(URL %q) succeeded; want an error", u)
		}
	}
	ks, err := idtoken.NewKeySet(nil)
	if err != nil || ks.URL() != idtoken.GoogleKeysURL {
		t.Errorf("NewKeySet(nil) = %v, %v; want Google's URL", ks, err)
	}
}
