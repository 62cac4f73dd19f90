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
func (s *Server) handleSample(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "fakegoogle sample service: method "+r.Method+" not allowed", http.StatusMethodNotAllowed)
		return
	}
	want := s.baseFor(r) + samplePath
	caller, err := s.sampleCaller(r, want)
	if err != nil {
		s.log.Info("fakegoogle: sample service refused a request", "reason", err.Error())
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "fakegoogle sample service: "+err.Error(), http.StatusUnauthorized)
		return
	}
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

// sampleCaller authenticates a sample-service request and returns the
// caller's email (or sub). Like Cloud Run, X-Serverless-Authorization takes
// precedence over Authorization.
func (s *Server) sampleCaller(r *http.Request, wantAud string) (string, error) {
	h := r.Header.Get("X-Serverless-Authorization")
	if h == "" {
		h = r.Header.Get("Authorization")
	}
	if h == "" {
		return "", errors.New("missing token: send an ID token as \"Authorization: Bearer <token>\"")
	}
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", errors.New("malformed Authorization header: want \"Bearer <ID token>\"")
	}
	claims, _, err := s.verifyIDToken(tok)
	switch {
	case errors.Is(err, errMalformedJWT):
		return "", errors.New("the bearer token is not a JWT; this service needs an ID token, not an access token")
	case errors.Is(err, errBadSignature):
		return "", errors.New("bad signature: the ID token is not signed by this fake's keys")
	case errors.Is(err, errExpired):
		exp, _ := claims["exp"].(json.Number)
		sec, _ := exp.Int64()
		return "", fmt.Errorf("ID token expired at %s", time.Unix(sec, 0).UTC().Format(time.RFC3339))
	case err != nil:
		return "", fmt.Errorf("invalid ID token: %v", err)
	}
	if iss, _ := claims["iss"].(string); iss != googleIssuer && iss != "accounts.google.com" {
		return "", fmt.Errorf("ID token issuer is %q; want %q", iss, googleIssuer)
	}
	if aud, _ := claims["aud"].(string); aud != wantAud {
		return "", fmt.Errorf("wrong audience: the ID token is for %q; this service expects %q", aud, wantAud)
	}
	if email, _ := claims["email"].(string); email != "" {
		return email, nil
	}
	sub, _ := claims["sub"].(string)
	return sub, nil
}
