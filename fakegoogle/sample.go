package fakegoogle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	neturl "net/url"
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

// handleSample serves /sample/get_range: POST {"start": 1, "end": 5} (or
// {}), or GET ?start=1&end=5, answered in JSON. It answers only
// callers presenting an ID token from this fake for its own URL, and says
// exactly what is wrong otherwise, so a failing client is easy to debug.
//
// The token is checked by the fake's own JWT code, never by package
// idtoken: the fake exists to test that verifier, and a bug shared by both
// sides would hide.
func (s *Server) handleSample(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, "application/json", sampleError{
			Error: "fakegoogle sample service: method " + r.Method + " not allowed", Expects: s.sampleUsage(s.baseFor(r) + samplePath)})
		return
	}
	tok, err := sampleBearer(r)
	if err != nil {
		// RFC 6750 §3.1: no error code when the request had no token.
		w.Header().Set("WWW-Authenticate", "Bearer")
		s.sampleRefused(w, r, err.Error())
		return
	}
	// The audience follows the base URL, which may come from the request's
	// Host.
	caller, msg := s.checkSampleToken(tok, s.baseFor(r)+samplePath)
	if msg != "" {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description=`+strconv.Quote(msg))
		s.sampleRefused(w, r, msg)
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

// Defaults of the sample service's parameters, as a Cloud Function's
// handler would have them: `requests.post(url, headers=…, json={})` gets
// the range 1..10.
const (
	sampleDefaultStart = 1
	sampleDefaultEnd   = 10
)

// maxSampleBody bounds the JSON body the sample service reads.
const maxSampleBody = 64 << 10

// sampleUsage says what the sample service expects; every error carries it.
func (s *Server) sampleUsage(url string) string {
	return fmt.Sprintf(`POST a JSON object such as {"start": 1, "end": 5} (both optional: %d and %d by default; an empty object {} works), `+
		`or GET ?start=1&end=5; with "Authorization: Bearer <ID token>" whose audience is %s`, sampleDefaultStart, sampleDefaultEnd, url)
}

// sampleError is the JSON body of every refusal of the sample service.
type sampleError struct {
	Error   string `json:"error"`
	Expects string `json:"expects"`
}

// serveRange answers an authenticated request, as the Cloud Function of
// Google's samples would: the parameters come from a JSON body (POST with
// Content-Type application/json, or any body that is a JSON object), a
// form body, or the query; the body's win. Missing ones take the defaults.
func (s *Server) serveRange(w http.ResponseWriter, r *http.Request, caller string) {
	url := s.baseFor(r) + r.URL.Path
	start, end, err := sampleParams(r)
	if err == nil && (start > end || end-start >= maxSampleRange) {
		err = fmt.Errorf("start (%d) and end (%d) must have start <= end and at most %d values between them", start, end, maxSampleRange)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, "application/json", sampleError{Error: "fakegoogle sample service: " + err.Error(), Expects: s.sampleUsage(url)})
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

// sampleParams reads start and end from the query, then from the body.
func sampleParams(r *http.Request) (start, end int, err error) {
	start, end = sampleDefaultStart, sampleDefaultEnd
	if err := formParams(r.URL.Query(), "query parameter", &start, &end); err != nil {
		return 0, 0, err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSampleBody+1))
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("read the body: %v", err)
	case len(body) > maxSampleBody:
		return 0, 0, fmt.Errorf("the body is larger than %d KiB", maxSampleBody>>10)
	case len(bytes.TrimSpace(body)) == 0:
		return start, end, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "application/json" || bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")):
		return sampleJSONParams(body, start, end)
	case ct == "application/x-www-form-urlencoded":
		form, err := neturl.ParseQuery(string(body))
		if err != nil {
			return 0, 0, fmt.Errorf("the form body is malformed: %v", err)
		}
		if err := formParams(form, "form field", &start, &end); err != nil {
			return 0, 0, err
		}
		return start, end, nil
	}
	return 0, 0, fmt.Errorf("a body of Content-Type %q is not understood: send JSON (-H 'Content-Type: application/json')", ct)
}

// formParams reads start and end from query or form values, where given.
func formParams(values neturl.Values, what string, start, end *int) error {
	for _, p := range []struct {
		name string
		v    *int
	}{{"start", start}, {"end", end}} {
		raw, ok := values[p.name]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(raw[0])
		if err != nil {
			return fmt.Errorf("%s %s=%q is not an integer", what, p.name, raw[0])
		}
		*p.v = n
	}
	return nil
}

// sampleJSONParams reads {"start": …, "end": …}: numbers, or strings of
// digits, as a lenient handler would take them.
func sampleJSONParams(body []byte, start, end int) (int, int, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return 0, 0, errors.New("the body is not a JSON object")
	}
	for _, p := range []struct {
		name string
		v    *int
	}{{"start", &start}, {"end", &end}} {
		raw, ok := m[p.name]
		if !ok {
			continue
		}
		var err error
		switch v := raw.(type) {
		case json.Number:
			var n int64
			n, err = v.Int64()
			*p.v = int(n)
		case string:
			*p.v, err = strconv.Atoi(v)
		default:
			err = errors.New("not a number")
		}
		if err != nil {
			return 0, 0, fmt.Errorf("JSON field %q is not an integer", p.name)
		}
	}
	return start, end, nil
}

// sampleRefused writes the 401 with a text that tells the caller what to
// fix: this is a fake for debugging clients, not a service to protect.
func (s *Server) sampleRefused(w http.ResponseWriter, r *http.Request, msg string) {
	s.log.Info("fakegoogle: sample service refused a request", "reason", msg)
	writeJSON(w, http.StatusUnauthorized, "application/json", sampleError{
		Error: "fakegoogle sample service: " + msg, Expects: s.sampleUsage(s.baseFor(r) + r.URL.Path)})
}
