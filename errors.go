package gcptoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"cloud.google.com/go/auth"

	"github.com/gcptoken/gcptoken/internal/safetext"
)

// ErrInvalidCredentials marks errors caused by the credential itself: a
// missing or malformed file, an unknown type, a key the server rejects, a
// revoked refresh token. Retrying does not help; the user must fix the
// credential. Test with errors.Is.
var ErrInvalidCredentials = errors.New("invalid credentials")

// ErrClockSkew marks a token that arrived already expired, or about to: the
// clocks of this machine and of the token server disagree (or the server is
// broken). Retrying does not help until a clock is fixed. Test with
// errors.Is.
var ErrClockSkew = errors.New("clock skew")

// maxErrorBody caps how much of a server's error body an Error keeps, so a
// misbehaving server cannot flood logs or memory.
const maxErrorBody = 1024

// Error is a failed request to a token endpoint (OAuth token endpoint,
// tokeninfo, metadata server, IAM Credentials, STS, …). It carries the HTTP
// status and the server's error code so callers can tell a revoked credential
// from an outage.
type Error struct {
	// Op says what was being done, e.g. "fetch access token".
	Op string
	// URL is the endpoint, without query (queries can carry tokens).
	URL string
	// StatusCode is the HTTP status, or 0 when no response arrived.
	StatusCode int
	// Code is the server's error code, e.g. "invalid_grant" or
	// "PERMISSION_DENIED", when the body had one.
	Code string
	// Description is the server's human-readable explanation, if any.
	Description string
	// Body is the start of the response body (at most 1 KiB).
	Body []byte
	// Err is the underlying transport error, if no response arrived.
	Err error
}

// Error words the failure on one line. Everything in it that came from
// outside (the server's code, description and body, the endpoint, the
// transport error) is escaped with safetext.OneLine: a hostile server's
// error_description must not move the cursor, retitle the terminal or
// forge a second line of output.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.URL != "" {
		fmt.Fprintf(&b, " from %s", safetext.OneLine(e.URL))
	}
	b.WriteString(": ")
	switch {
	case e.StatusCode == 0 && e.Err != nil:
		b.WriteString(safetext.OneLine(e.Err.Error()))
	default:
		fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
		if e.Code != "" {
			fmt.Fprintf(&b, " %s", safetext.OneLine(e.Code))
		}
		if e.Description != "" {
			fmt.Fprintf(&b, ": %s", safetext.OneLine(e.Description))
		} else if e.Code == "" && len(e.Body) > 0 {
			fmt.Fprintf(&b, ": %s", safetext.OneLine(string(e.Body)))
		}
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ErrInvalidCredentials) match server answers that
// mean the credential itself was refused.
func (e *Error) Is(target error) bool {
	return target == ErrInvalidCredentials && e.credentialRefused()
}

func (e *Error) credentialRefused() bool {
	switch e.Code {
	case "invalid_grant", "invalid_client", "unauthorized_client", "deleted_client", "UNAUTHENTICATED":
		return true
	}
	return e.StatusCode == http.StatusUnauthorized
}

// Temporary reports whether retrying the same request may succeed: no
// response at all (connection refused or reset, timeout), HTTP 408, 429 or
// 5xx, or one of the OAuth error codes Google uses for transient trouble.
func (e *Error) Temporary() bool {
	switch e.Code {
	case "internal_failure", "server_error", "temporarily_unavailable":
		return true
	}
	switch {
	case e.StatusCode == 0:
		return e.Err != nil && isTransportError(e.Err)
	case e.StatusCode == http.StatusRequestTimeout, e.StatusCode == http.StatusTooManyRequests:
		return true
	case e.StatusCode >= 500:
		return true
	}
	return false
}

// IsTemporary reports whether err is worth retrying (see Error.Temporary).
// Context cancellation and deadline errors are never temporary: the caller
// has given up.
func IsTemporary(err error) bool {
	if err == nil || errors.Is(err, ErrInvalidCredentials) {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary()
	}
	return isTransportError(err)
}

// IsUnavailable reports whether err means the endpoint could not be reached
// or failed on its side (network error, timeout, 5xx, 429), as opposed to a
// refusal of the request or credential.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary() || e.StatusCode == 0
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

func isTransportError(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// NewResponseError builds an Error from a non-2xx response (or a 2xx whose
// body carries an "error" field). It understands both of Google's error
// shapes: OAuth's {"error":"code","error_description":"…"} and the API style
// {"error":{"code":403,"status":"PERMISSION_DENIED","message":"…"}}.
func NewResponseError(op, endpoint string, status int, body []byte) *Error {
	e := &Error{Op: op, URL: stripQuery(endpoint), StatusCode: status}
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody]
	}
	e.Body = body
	var oauth struct {
		Error            json.RawMessage `json:"error"`
		ErrorDescription string          `json:"error_description"`
	}
	if json.Unmarshal(body, &oauth) != nil || len(oauth.Error) == 0 {
		return e
	}
	var code string
	if json.Unmarshal(oauth.Error, &code) == nil {
		e.Code, e.Description = code, oauth.ErrorDescription
		return e
	}
	var api struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if json.Unmarshal(oauth.Error, &api) == nil {
		e.Code, e.Description = api.Status, api.Message
	}
	return e
}

// NewTransportError wraps a failure to get any response from endpoint.
func NewTransportError(op, endpoint string, err error) *Error {
	return &Error{Op: op, URL: stripQuery(endpoint), Err: err}
}

// FromAuthError converts an error from cloud.google.com/go/auth into an
// *Error so that its status, OAuth code and transience are visible to
// gcptoken's retry loop and to the CLI's exit codes. Other errors are
// returned wrapped with op.
func FromAuthError(op, endpoint string, err error) error {
	if err == nil {
		return nil
	}
	var ae *auth.Error
	if errors.As(err, &ae) && ae.Response != nil {
		return NewResponseError(op, endpoint, ae.Response.StatusCode, ae.Body)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return NewTransportError(op, endpoint, ue.Err)
	}
	if isTransportError(err) {
		return NewTransportError(op, endpoint, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func stripQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}
