package gcptoken

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

func errConnRefused() error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}

func TestNewResponseError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        int
		body          string
		wantCode      string
		wantMsg       string
		wantTemporary bool
		wantInvalid   bool
	}{
		{"oauth invalid_grant", 400, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`,
			"invalid_grant", "fetch from https://t/token: HTTP 400 invalid_grant: Token has been expired or revoked.", false, true},
		{"oauth invalid_client", 401, `{"error":"invalid_client","error_description":"The OAuth client was not found."}`,
			"invalid_client", "fetch from https://t/token: HTTP 401 invalid_client: The OAuth client was not found.", false, true},
		{"api style", 403, `{"error":{"code":403,"message":"Permission denied\non resource","status":"PERMISSION_DENIED"}}`,
			"PERMISSION_DENIED", "fetch from https://t/token: HTTP 403 PERMISSION_DENIED: Permission denied on resource", false, false},
		{"server error html", 502, "<html>\n<b>bad gateway</b>\n</html>",
			"", "fetch from https://t/token: HTTP 502: <html> <b>bad gateway</b> </html>", true, false},
		{"200 with transient oauth code", 200, `{"error":"temporarily_unavailable"}`,
			"temporarily_unavailable", "fetch from https://t/token: HTTP 200 temporarily_unavailable", true, false},
		{"rate limited", 429, ``, "", "fetch from https://t/token: HTTP 429", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := NewResponseError("fetch", "https://t/token?access_token=secret", tt.status, []byte(tt.body))
			if e.Code != tt.wantCode {
				t.Errorf("got Code %q; want %q", e.Code, tt.wantCode)
			}
			if got := e.Error(); got != tt.wantMsg {
				t.Errorf("got message %q; want %q", got, tt.wantMsg)
			}
			if strings.Contains(e.Error(), "secret") {
				t.Errorf("message %q leaks the query string", e.Error())
			}
			if got := IsTemporary(e); got != tt.wantTemporary {
				t.Errorf("got IsTemporary %v; want %v", got, tt.wantTemporary)
			}
			if got := errors.Is(e, ErrInvalidCredentials); got != tt.wantInvalid {
				t.Errorf("got errors.Is(ErrInvalidCredentials) %v; want %v", got, tt.wantInvalid)
			}
		})
	}
}

func TestErrorBodyIsCapped(t *testing.T) {
	t.Parallel()
	e := NewResponseError("fetch", "u", 500, []byte(strings.Repeat("x", 10_000)))
	if len(e.Body) != maxErrorBody {
		t.Errorf("got body of %d bytes; want %d", len(e.Body), maxErrorBody)
	}
}

func TestTransportErrorsAreTemporaryAndUnavailable(t *testing.T) {
	t.Parallel()
	e := NewTransportError("fetch access token", "http://127.0.0.1:1/token", errConnRefused())
	if !IsTemporary(e) || !IsUnavailable(e) {
		t.Errorf("got IsTemporary %v, IsUnavailable %v; want both true", IsTemporary(e), IsUnavailable(e))
	}
	if strings.Contains(e.Error(), "\n") {
		t.Errorf("message %q spans lines", e.Error())
	}
}
