package idtoken_test

import (
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
