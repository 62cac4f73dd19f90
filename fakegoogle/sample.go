package fakegoogle

import (
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken/idtoken"
)

// samplePath is the protected sample service, modelled on the private Cloud
// Function in Google's ID-token samples.
const samplePath = "/sample/get_range"

// maxSampleRange bounds the range so a careless request cannot make the
// fake allocate without limit.
const maxSampleRange = 10000

// SampleServiceURL returns BaseURL()+"/sample/get_range", the URL of the
// protected sample service. It is also the audience its ID tokens must
// carry, as for a private Cloud Run service. Call it after SetBaseURL.
func (s *Server) SampleServiceURL() string {
	return s.BaseURL() + samplePath
}

// handleSample serves GET /sample/get_range?start=1&end=5. It answers only
// callers presenting an ID token from this fake for its own URL, checked by
// idtoken.Middleware as a real service would, and says exactly what is
// wrong otherwise, so a failing client is easy to debug.
func (s *Server) handleSample(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "fakegoogle sample service: method "+r.Method+" not allowed", http.StatusMethodNotAllowed)
		return
	}
	// Built per request: the audience follows the base URL (which may come
	// from the request's Host), and LoadState may replace the keys.
	v, err := s.sampleVerifier(s.baseFor(r) + samplePath)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	protect := idtoken.Middleware(v, &idtoken.MiddlewareOptions{ErrorHandler: s.sampleRefused})
	protect(http.HandlerFunc(s.serveRange)).ServeHTTP(w, r)
}

// sampleVerifier checks tokens against the fake's own signing keys, in
// memory: the fake never fetches its own certificate endpoint.
func (s *Server) sampleVerifier(audience string) (*idtoken.Verifier, error) {
	keys := map[string]crypto.PublicKey{}
	for _, k := range s.signingKeys() {
		priv, err := k.private()
		if err != nil {
			return nil, err
		}
		keys[k.kid] = &priv.PublicKey
	}
	ks, err := idtoken.NewStaticKeySet(keys)
	if err != nil {
		return nil, err
	}
	return idtoken.NewVerifier(&idtoken.Options{
		Audiences: []string{audience},
		KeySet:    ks,
		Now:       s.now,
		// Exact comparisons: tokens come from the same clock, and tests
		// that move the fake's clock past exp expect a rejection at once.
		ClockSkew: -1,
	})
}

// serveRange answers an authenticated request.
func (s *Server) serveRange(w http.ResponseWriter, r *http.Request) {
	claims, _ := idtoken.ClaimsFromContext(r.Context())
	start, errS := strconv.Atoi(r.URL.Query().Get("start"))
	end, errE := strconv.Atoi(r.URL.Query().Get("end"))
	if errS != nil || errE != nil || start > end || end-start >= maxSampleRange {
		http.Error(w, fmt.Sprintf("fakegoogle sample service: start and end must be integers with start <= end and at most %d values", maxSampleRange), http.StatusBadRequest)
		return
	}
	rng := make([]int, 0, end-start+1)
	for i := start; i <= end; i++ {
		rng = append(rng, i)
	}
	writeJSON(w, http.StatusOK, "application/json", struct {
		Range  []int  `json:"range"`
		Caller string `json:"caller"`
	}{rng, claims.Principal()})
}

// sampleRefused writes the 401 (the middleware has set WWW-Authenticate)
// with a text that tells the caller what to fix.
func (s *Server) sampleRefused(w http.ResponseWriter, r *http.Request, status int, err error) {
	msg := s.sampleReason(r, err)
	s.log.Info("fakegoogle: sample service refused a request", "reason", msg)
	http.Error(w, "fakegoogle sample service: "+msg, status)
}

func (s *Server) sampleReason(r *http.Request, err error) string {
	var ve *idtoken.VerifyError
	if !errors.As(err, &ve) {
		return err.Error() // missing token, or not "Bearer <token>"
	}
	switch ve.Reason {
	case idtoken.ReasonMalformed:
		if !looksLikeJWT(r) {
			return "not a JWT: this service needs an ID token, not an access token"
		}
	case idtoken.ReasonSignature, idtoken.ReasonUnknownKey:
		return "bad signature: the ID token is not signed by this fake's keys"
	case idtoken.ReasonExpired:
		return "ID token expired at " + ve.Claims.Expiry.UTC().Format(time.RFC3339)
	case idtoken.ReasonAudience:
		got := strconv.Quote(strings.Join(ve.Claims.Audience, " "))
		return fmt.Sprintf("wrong audience: the ID token is for %s; this service expects %q", got, s.baseFor(r)+samplePath)
	case idtoken.ReasonIssuer:
		return fmt.Sprintf("ID token issuer is %q; want %q", ve.Claims.Issuer, googleIssuer)
	}
	return "invalid ID token: " + ve.Message
}

// looksLikeJWT reports whether the request's bearer token starts like a
// JWT header ("eyJ" is base64url for `{"`); Google access tokens start
// with "ya29.".
func looksLikeJWT(r *http.Request) bool {
	h := r.Header.Get("X-Serverless-Authorization")
	if h == "" {
		h = r.Header.Get("Authorization")
	}
	_, tok, _ := strings.Cut(strings.TrimSpace(h), " ")
	return strings.HasPrefix(strings.TrimSpace(tok), "eyJ")
}
