package idtoken_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/idtoken"
)

// echo answers 200 with the caller's email from the verified claims.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := idtoken.ClaimsFromContext(r.Context())
	if !ok {
		http.Error(w, "no claims in context", http.StatusInternalServerError)
		return
	}
	io.WriteString(w, "hello "+c.Principal())
})

func TestMiddleware(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: staticKeys(t), Now: func() time.Time { return testNow }})
	good := rs256(t, googleClaims())
	wrongAud := rs256(t, with(map[string]any{"aud": "https://other.example"}))
	unverified := rs256(t, with(map[string]any{"email_verified": false}))
	bearer := func(tok string) string { return "Bearer " + tok }

	tests := []struct {
		name       string
		opts       *idtoken.MiddlewareOptions
		headers    map[string]string
		wantStatus int
		wantBody   string // substring
		wantAuth   string // WWW-Authenticate prefix ("" = must be absent)
		wantLog    string // substring of the log line ("" = no line)
	}{
		{"valid", nil, map[string]string{"Authorization": bearer(good)}, 200, "hello " + testEmail, "", ""},
		{"lower-case scheme", nil, map[string]string{"Authorization": "bearer " + good}, 200, "hello", "", ""},
		{"missing", nil, nil, 401, `unauthenticated: missing token: send an ID token as "Authorization: Bearer <token>"`, "Bearer", "missing token"},
		{"basic", nil, map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, 401, "malformed Authorization header", "Bearer", "malformed"},
		{"bearer without token", nil, map[string]string{"Authorization": "Bearer "}, 401, "malformed Authorization header", "Bearer", "malformed"},
		{"access token", nil, map[string]string{"Authorization": "Bearer ya29.a0AfB_byC"}, 401, "unauthenticated: invalid token (malformed)",
			`Bearer error="invalid_token", error_description="invalid token (malformed)"`, "not a JWT"},
		{"wrong audience", nil, map[string]string{"Authorization": bearer(wrongAud)}, 401,
			"unauthenticated: invalid token (audience)",
			`Bearer error="invalid_token", error_description="invalid token (audience)"`,
			`audience \"https://other.example\" is not one of [\"` + testAud + `\"]`},
		{"x-serverless-authorization", nil, map[string]string{"X-Serverless-Authorization": bearer(good)}, 200, "hello", "", ""},
		{"x-serverless-authorization wins", nil, map[string]string{"X-Serverless-Authorization": bearer(good), "Authorization": "Bearer garbage"}, 200, "hello", "", ""},
		{"x-serverless-authorization wins even when bad", nil, map[string]string{"X-Serverless-Authorization": bearer(wrongAud), "Authorization": bearer(good)}, 401, "audience", "Bearer error", "audience"},
		{"allowed email, other case", &idtoken.MiddlewareOptions{AllowedEmails: []string{"Caller@Project.iam.gserviceaccount.com"}},
			map[string]string{"Authorization": bearer(good)}, 200, "hello", "", ""},
		{"email not allowed", &idtoken.MiddlewareOptions{AllowedEmails: []string{"someone@example.com"}},
			map[string]string{"Authorization": bearer(good)}, 403, "forbidden: caller not allowed", "",
			`caller not allowed: \"` + testEmail + `\" is not on the allow-list`},
		{"unverified email", &idtoken.MiddlewareOptions{AllowedEmails: []string{testEmail}},
			map[string]string{"Authorization": bearer(unverified)}, 403, "forbidden: caller not allowed", "", "is not verified"},
		{"invalid token with allow-list", &idtoken.MiddlewareOptions{AllowedEmails: []string{testEmail}},
			map[string]string{"Authorization": bearer(wrongAud)}, 401, "audience", "Bearer error", "audience"},
		{"token header", &idtoken.MiddlewareOptions{TokenHeader: "X-Goog-IAP-JWT-Assertion"},
			map[string]string{"X-Goog-IAP-JWT-Assertion": good}, 200, "hello", "", ""},
		{"token header ignores Authorization", &idtoken.MiddlewareOptions{TokenHeader: "X-Goog-IAP-JWT-Assertion"},
			map[string]string{"Authorization": bearer(good)}, 401, "missing token: send the token in the X-Goog-IAP-JWT-Assertion header", "Bearer", "missing token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var log strings.Builder
			opts := &idtoken.MiddlewareOptions{}
			if tt.opts != nil {
				*opts = *tt.opts
			}
			opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
			h := idtoken.Middleware(v, opts)(echo)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for k, val := range tt.headers {
				r.Header.Set(k, val)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			body := w.Body.String()
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d; want %d (body %q)", w.Code, tt.wantStatus, body)
			}
			if !strings.Contains(body, tt.wantBody) {
				t.Errorf("body = %q; want it to contain %q", body, tt.wantBody)
			}
			auth := w.Header().Get("WWW-Authenticate")
			if (tt.wantAuth == "") != (auth == "") || !strings.HasPrefix(auth, tt.wantAuth) {
				t.Errorf("WWW-Authenticate = %q; want prefix %q", auth, tt.wantAuth)
			}
			if auth == "Bearer" && tt.wantAuth == "Bearer" && w.Code != 401 {
				t.Errorf("bare challenge on status %d", w.Code)
			}
			if got := log.String(); (tt.wantLog == "") != (got == "") || !strings.Contains(got, tt.wantLog) {
				t.Errorf("log = %q; want it to contain %q", got, tt.wantLog)
			}
			if w.Code >= 400 {
				if strings.Count(strings.TrimSpace(body), "\n") > 0 {
					t.Errorf("body %q is not one line", body)
				}
				// The caller learns the class of the reason, not what the
				// service expects.
				if strings.Contains(body+auth, testAud) || strings.Contains(body+auth, "someone@example.com") {
					t.Errorf("response %q / %q names the expected audience or the allow-list", body, auth)
				}
				for _, tok := range []string{good, wrongAud, unverified} {
					sig := tok[strings.LastIndexByte(tok, '.')+1:]
					if strings.Contains(body, sig) || strings.Contains(auth, sig) {
						t.Errorf("response echoes the token")
					}
				}
			}
		})
	}
}

func TestMiddlewareErrorHandler(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, &idtoken.Options{Audiences: []string{testAud}, KeySet: staticKeys(t), Now: func() time.Time { return testNow }})
	var gotStatus int
	var gotErr error
	h := idtoken.Middleware(v, &idtoken.MiddlewareOptions{
		AllowedEmails: []string{"nobody@example.com"},
		Logger:        slog.New(slog.DiscardHandler),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, status int, err error) {
			gotStatus, gotErr = status, err
			w.WriteHeader(status)
		},
	})(echo)
	serve := func(auth string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	w := serve("")
	if gotStatus != 401 || !errors.Is(gotErr, idtoken.ErrNoToken) || w.Header().Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("missing token: status %d, err %v, challenge %q", gotStatus, gotErr, w.Header().Get("WWW-Authenticate"))
	}
	serve("Basic abc")
	if !errors.Is(gotErr, idtoken.ErrNoToken) {
		t.Errorf("Basic: err %v; want ErrNoToken", gotErr)
	}
	serve("Bearer " + rs256(t, with(map[string]any{"exp": testNow.Add(-time.Hour).Unix()})))
	if gotStatus != 401 || idtoken.ReasonOf(gotErr) != idtoken.ReasonExpired {
		t.Errorf("expired: status %d, err %v", gotStatus, gotErr)
	}
	serve("Bearer " + rs256(t, googleClaims()))
	if gotStatus != 403 || !errors.Is(gotErr, idtoken.ErrNotAllowed) {
		t.Errorf("not allowed: status %d, err %v", gotStatus, gotErr)
	}
}
