package fakegoogle

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
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
// callers presenting an ID token from this fake for its own URL, and says
// exactly what is wrong otherwise, so a failing client is easy to debug.
//
// The token is checked by the fake's own JWT code, never by package
// idtoken: the fake exists to test that verifier, and a bug shared by both
// sides would hide.
func (s *Server) handleSample(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "fakegoogle sample service: method "+r.Method+" not allowed", http.StatusMethodNotAllowed)
		return
	}
	tok, err := sampleBearer(r)
	if err != nil {
		// RFC 6750 §3.1: no error code when the request had no token.
		w.Header().Set("WWW-Authenticate", "Bearer")
		s.sampleRefused(w, err.Error())
		return
	}
	// The audience follows the base URL, which may come from the request's
	// Host.
	caller, msg := s.checkSampleToken(tok, s.baseFor(r)+samplePath)
	if msg != "" {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description=`+strconv.Quote(msg))
		s.sampleRefused(w, msg)
		return
	}
	s.serveRange(w, r, caller)
}

// sampleBearer finds the token as Cloud Run does: X-Serverless-Authorization
// wins over Authorization.
func sampleBearer(r *http.Request) (string, error) {
	h := r.Header.Get("X-Serverless-Authorization")
	if h == "" {
		h = r.Header.Get("Authorization")
	}
	if h == "" {
		return "", errors.New(`missing token: send an ID token as "Authorization: Bearer <token>"`)
	}
	scheme, tok, _ := strings.Cut(strings.TrimSpace(h), " ")
	if tok = strings.TrimSpace(tok); !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", errors.New(`malformed Authorization header: want "Bearer <ID token>"`)
	}
	return tok, nil
}

// checkSampleToken checks an ID token the way a Google-fronted service
// does: signed by one of the fake's keys and naming it (kid), issued by
// Google, for audience, not expired (exactly: tests that move the fake's
// clock past exp expect a rejection at once). It returns the caller (email,
// else subject), or why the token is refused.
func (s *Server) checkSampleToken(tok, audience string) (caller, refusal string) {
	jwt, err := parseJWT(tok)
	switch {
	case err != nil && !strings.HasPrefix(tok, "eyJ"):
		// Google access tokens start with "ya29."; "eyJ" is `{"` in base64url.
		return "", "not a JWT: this service needs an ID token, not an access token"
	case err != nil:
		return "", "invalid ID token: " + err.Error()
	case jwt.header(jwt.kid) == "":
		return "", "invalid ID token: the header has no kid"
	}
	claims, _, err := s.verifyIDToken(tok)
	switch {
	case errors.Is(err, errBadSignature):
		return "", "bad signature: the ID token is not signed by this fake's keys"
	case errors.Is(err, errExpired):
		exp, _ := claims["exp"].(json.Number).Int64()
		return "", "ID token expired at " + time.Unix(exp, 0).UTC().Format(time.RFC3339)
	case err != nil:
		return "", "invalid ID token: " + err.Error()
	}
	str := func(k string) string { v, _ := claims[k].(string); return v }
	if iss := str("iss"); iss != googleIssuer && iss != "accounts.google.com" {
		return "", fmt.Sprintf("ID token issuer is %q; want %q", iss, googleIssuer)
	}
	if aud := str("aud"); aud != audience {
		return "", fmt.Sprintf("wrong audience: the ID token is for %q; this service expects %q", aud, audience)
	}
	if caller = str("email"); caller == "" {
		caller = str("sub")
	}
	return caller, ""
}

// serveRange answers an authenticated request.
func (s *Server) serveRange(w http.ResponseWriter, r *http.Request, caller string) {
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
	}{rng, caller})
}

// sampleRefused writes the 401 with a text that tells the caller what to
// fix: this is a fake for debugging clients, not a service to protect.
func (s *Server) sampleRefused(w http.ResponseWriter, msg string) {
	s.log.Info("fakegoogle: sample service refused a request", "reason", msg)
	http.Error(w, "fakegoogle sample service: "+msg, http.StatusUnauthorized)
}
