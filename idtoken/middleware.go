package idtoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// ErrNoToken is the error Middleware reports when a request carries no
// bearer token it can use: no header at all, or one that is not
// "Bearer <token>". Test with errors.Is.
var ErrNoToken = errors.New("missing token")

// ErrNotAllowed is the error Middleware reports (with 403) when a valid
// token names a caller outside MiddlewareOptions.AllowedEmails. Test with
// errors.Is.
var ErrNotAllowed = errors.New("caller not allowed")

// MiddlewareOptions configures Middleware. The zero value (or nil) accepts
// every caller with a valid token.
type MiddlewareOptions struct {
	// AllowedEmails, when not empty, limits callers to these emails (exact
	// match, ignoring case). The token's email must also be verified
	// (email_verified true). A valid token for anyone else gets 403.
	// Optional; default: any caller.
	AllowedEmails []string
	// TokenHeader, when set, is the only header the token is read from, as
	// a bare JWT rather than "Bearer <token>": "X-Goog-IAP-JWT-Assertion"
	// for IAP. Optional; default: X-Serverless-Authorization, then
	// Authorization, each as "Bearer <token>", as Cloud Run does.
	TokenHeader string
	// ErrorHandler writes the response for a refused request. status is
	// 401 or 403; err is ErrNoToken, a *VerifyError or ErrNotAllowed
	// (possibly wrapped). err's message is for the server's logs: it may
	// name the audiences the service expects or the caller's email, which
	// an unauthenticated caller must not learn; choose a response with
	// errors.Is and ReasonOf. Middleware has already set WWW-Authenticate
	// on 401s. Optional; default: a one-line text/plain body with the
	// status and the reason class only, e.g. "unauthenticated: invalid
	// token (audience)".
	ErrorHandler func(w http.ResponseWriter, r *http.Request, status int, err error)
	// Logger receives one line per refused request, at Info, with the
	// full reason (never the token). Optional; default slog.Default().
	Logger *slog.Logger
}

type claimsKey struct{}

// ClaimsFromContext returns the claims Middleware verified for the request
// whose context ctx is. Requests with the same token share one *Claims
// (the Verifier's cache): read it, never change it.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// Middleware returns a wrapper that lets a request through only with a
// valid ID token, like the IAM check in front of a private Cloud Run
// service. A missing or invalid token gets 401 with a WWW-Authenticate
// challenge (RFC 6750); a valid token for a caller outside AllowedEmails
// gets 403. The response says only the class of the reason ("invalid token
// (audience)"); the details go to MiddlewareOptions.Logger. The handler
// finds the claims with ClaimsFromContext. Tokens are never logged or
// echoed.
func Middleware(v *Verifier, opts *MiddlewareOptions) func(http.Handler) http.Handler {
	var o MiddlewareOptions
	if opts != nil {
		o = *opts
	}
	allowed := make(map[string]bool, len(o.AllowedEmails))
	for _, e := range o.AllowedEmails {
		allowed[strings.ToLower(e)] = true
	}
	if o.ErrorHandler == nil {
		o.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, status int, err error) {
			http.Error(w, publicReason(status, err), status)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	refuse := func(w http.ResponseWriter, r *http.Request, status int, err error) {
		o.Logger.LogAttrs(r.Context(), slog.LevelInfo, "idtoken: request refused",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.String("reason", oneLine(err.Error())))
		o.ErrorHandler(w, r, status, err)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, err := o.bearerToken(r)
			if err != nil {
				// RFC 6750 §3.1: no error code when the request had no
				// credentials of this scheme.
				w.Header().Set("WWW-Authenticate", "Bearer")
				refuse(w, r, http.StatusUnauthorized, err)
				return
			}
			c, err := v.Verify(r.Context(), tok)
			if err != nil {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="invalid_token", error_description=%s`,
					quoteParam(invalidTokenClass(err))))
				refuse(w, r, http.StatusUnauthorized, err)
				return
			}
			if len(allowed) > 0 && (!c.EmailVerified || !allowed[strings.ToLower(c.Email)]) {
				refuse(w, r, http.StatusForbidden, notAllowed(c))
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
		})
	}
}

// publicReason is what the default ErrorHandler tells the caller: the
// status and the class of the reason, never the details (the audiences the
// service expects, whom it allows), which go to the log.
func publicReason(status int, err error) string {
	switch {
	case status == http.StatusForbidden:
		return "forbidden: caller not allowed"
	case errors.Is(err, ErrNoToken):
		return "unauthenticated: " + oneLine(err.Error()) // how to send a token; nothing about the service
	}
	return "unauthenticated: " + invalidTokenClass(err)
}

// invalidTokenClass names why a token was refused by its Reason alone.
func invalidTokenClass(err error) string {
	if r := ReasonOf(err); r != "" {
		return "invalid token (" + r + ")"
	}
	return "invalid token"
}

func notAllowed(c *Claims) error {
	switch {
	case c.Email == "":
		return fmt.Errorf("%w: the token has no email (subject %s)", ErrNotAllowed, q(c.Subject))
	case !c.EmailVerified:
		return fmt.Errorf("%w: email %s is not verified", ErrNotAllowed, q(c.Email))
	}
	return fmt.Errorf("%w: %s is not on the allow-list", ErrNotAllowed, q(c.Email))
}

// bearerToken finds the token: X-Serverless-Authorization wins over
// Authorization, because Cloud Run consumes the former and leaves the
// latter to the application.
func (o *MiddlewareOptions) bearerToken(r *http.Request) (string, error) {
	if o.TokenHeader != "" {
		tok := strings.TrimSpace(r.Header.Get(o.TokenHeader))
		if tok == "" {
			return "", noTokenError("missing token: send the token in the " + o.TokenHeader + " header")
		}
		return tok, nil
	}
	h := r.Header.Get("X-Serverless-Authorization")
	if h == "" {
		h = r.Header.Get("Authorization")
	}
	if h == "" {
		return "", noTokenError(`missing token: send an ID token as "Authorization: Bearer <token>"`)
	}
	scheme, tok, _ := strings.Cut(strings.TrimSpace(h), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", noTokenError(`malformed Authorization header: want "Bearer <ID token>"`)
	}
	return tok, nil
}

// noTokenError is an ErrNoToken with a message saying what was wrong.
type noTokenError string

func (e noTokenError) Error() string { return string(e) }

func (e noTokenError) Is(target error) bool { return target == ErrNoToken }

// quoteParam makes s a quoted-string for an auth-param (RFC 9110 §11.2):
// error_description allows only printable ASCII without '"' and '\'.
func quoteParam(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(oneLine(s)) {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\'')
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
