package credentials

import (
	"net/url"
	"sync"
	"testing"
)

// The providers a user gets are cached and coalesced: many Token calls, from
// many goroutines at once, make one request. The …Source forms make one
// request per call.
func TestProvidersAreCached(t *testing.T) {
	t.Parallel()
	var ts *tokenServer
	ts = newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
		if checkAssertion(t, form, ts.tokenURL())["target_audience"] != nil {
			return 200, map[string]any{"id_token": fakeJWT(t, map[string]any{"aud": "https://svc.example", "exp": soon})}
		}
		return 200, map[string]any{"access_token": "ya29.sa", "expires_in": 3599}
	})
	c, err := FromJSON(mustJSON(t, saFile(t, ts.tokenURL())), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	at, err := c.AccessTokenProvider(nil)
	if err != nil {
		t.Fatal(err)
	}
	it, err := c.IDTokenProvider("https://svc.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := at.Token(t.Context()); err != nil {
				t.Error(err)
			}
			if _, err := it.Token(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := ts.calls.Load(); got != 2 {
		t.Errorf("got %d token requests for 20 access and 20 ID tokens; want 2", got)
	}
	src, err := c.AccessTokenSource(nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := src.Token(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := ts.calls.Load(); got != 4 {
		t.Errorf("got %d token requests after 2 calls of the plain source; want 4", got)
	}
}

// A nil or zero Credentials is an error naming the fix, not a panic.
func TestZeroCredentials(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]*Credentials{"nil": nil, "zero": {}} {
		if _, err := c.AccessTokenProvider(nil); err != errNotLoaded {
			t.Errorf("%s: AccessTokenProvider error = %v; want %v", name, err, errNotLoaded)
		}
		if _, err := c.IDTokenProvider("aud", nil); err != errNotLoaded {
			t.Errorf("%s: IDTokenProvider error = %v; want %v", name, err, errNotLoaded)
		}
		if _, err := c.SelfSignedJWTProvider("aud", nil); err != errNotLoaded {
			t.Errorf("%s: SelfSignedJWTProvider error = %v; want %v", name, err, errNotLoaded)
		}
	}
}

// Every Credentials keeps the tokens of AccessToken and IDToken for itself:
// one made for another principal (WithSubject, Impersonate, Downscope)
// never gets its source's token.
func TestAccessTokenMemoPerPrincipal(t *testing.T) {
	t.Parallel()
	var ts *tokenServer
	ts = newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
		c := checkAssertion(t, form, ts.tokenURL())
		if c["sub"] != nil {
			return 200, map[string]any{"access_token": "ya29.user", "expires_in": 3599}
		}
		return 200, map[string]any{"access_token": "ya29.sa", "expires_in": 3599}
	})
	sa, err := FromJSON(mustJSON(t, saFile(t, ts.tokenURL())), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	user, err := sa.WithSubject(testSubject)
	if err != nil {
		t.Fatal(err)
	}
	down, err := Downscope(sa, &DownscopeOptions{Boundary: []byte(testBoundary), STSEndpoint: closedURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	imp, err := Impersonate(sa, &ImpersonateOptions{Target: targetSA, IAMEndpoint: closedURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if tok, err := sa.AccessToken(t.Context()); err != nil || tok.Value != "ya29.sa" {
			t.Fatalf("key: %v, %v; want ya29.sa", tok, err)
		}
	}
	if tok, err := user.AccessToken(t.Context()); err != nil || tok.Value != "ya29.user" {
		t.Errorf("WithSubject: %v, %v; want ya29.user", tok, err)
	}
	for name, c := range map[string]*Credentials{"downscoped": down, "impersonated": imp} {
		if c.memo == nil || c.memo == sa.memo {
			t.Errorf("%s credentials share their source's tokens", name)
		}
	}
	if n := ts.calls.Load(); n != 2 {
		t.Errorf("got %d token requests; want 2 (one per principal)", n)
	}
}
