package credentials

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

const (
	scopeCP     = "https://www.googleapis.com/auth/cloud-platform"
	targetSA    = "target@proj.iam.gserviceaccount.com"
	delegateA   = "a@proj.iam.gserviceaccount.com"
	delegateB   = "b@proj.iam.gserviceaccount.com"
	sourceToken = "ya29.source"
	iamPrefix   = "/v1/projects/-/serviceAccounts/"
)

// iamRequest is one request to the fake IAM Credentials API, decoded by the
// fake itself (not with the client's wire structs).
type iamRequest struct {
	Account string // from the path, unescaped
	Method  string // "generateAccessToken", "generateIdToken", "signJwt"
	Auth    string // the Authorization header
	Body    map[string]any
}

// iamServer is a fake IAM Credentials API. It asserts what every call must
// look like (POST, JSON, a path under /v1/projects/-/serviceAccounts/), and
// lets respond check the rest and answer.
type iamServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []iamRequest
}

func newIAMServer(t *testing.T, respond func(t *testing.T, r iamRequest) (status int, body any)) *iamServer {
	t.Helper()
	s := &iamServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			t.Errorf("IAM: got method %q; want POST", r.Method)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("IAM: got Content-Type %q; want application/json", ct)
		}
		rest, ok := strings.CutPrefix(r.URL.Path, iamPrefix)
		acct, method, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 {
			t.Errorf("IAM: got path %q; want %s{account}:{method}", r.URL.Path, iamPrefix)
			http.NotFound(w, r)
			return
		}
		req := iamRequest{Account: acct, Method: method, Auth: r.Header.Get("Authorization")}
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&req.Body); err != nil {
			t.Errorf("IAM: body is not a JSON object: %v", err)
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, req)
		s.mu.Unlock()
		status, body := respond(t, req)
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		if raw, ok := body.(string); ok {
			w.Write([]byte(raw))
			return
		}
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *iamServer) requests() []iamRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]iamRequest(nil), s.reqs...)
}

// url returns the URL of method on account.
func (s *iamServer) url(account, method string) string {
	return s.URL + iamPrefix + account + ":" + method
}

// wantBody fails unless got has exactly the keys and values of want
// (compared as JSON).
func wantBody(t *testing.T, got map[string]any, want map[string]any) {
	t.Helper()
	g, w := string(mustJSON(t, got)), string(mustJSON(t, want))
	if g != w {
		t.Errorf("got body %s; want %s", g, w)
	}
}

// sourceServer is a token endpoint for the source service account: it checks
// the assertion asks for cloud-platform and answers with sourceToken.
func sourceServer(t *testing.T) *tokenServer {
	var ts *tokenServer
	ts = newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
		c := checkAssertion(t, form, ts.tokenURL())
		if c["scope"] != scopeCP {
			t.Errorf("source: got scope = %v; want %q", c["scope"], scopeCP)
		}
		return 200, map[string]any{"access_token": sourceToken, "expires_in": 3600, "token_type": "Bearer"}
	})
	return ts
}

// sourceCreds loads a service-account key whose token endpoint is ts.
func sourceCreds(t *testing.T, ts *tokenServer) *Credentials {
	t.Helper()
	c, err := FromJSON(mustJSON(t, saFile(t, ts.tokenURL())), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// apiErrorBody is a Google API error, with an ErrorInfo when metadata is
// not nil.
func apiErrorBody(code int, status, message, reason string, metadata map[string]string) map[string]any {
	e := map[string]any{"code": code, "status": status, "message": message}
	if metadata != nil {
		e["details"] = []any{map[string]any{
			"@type":    "type.googleapis.com/google.rpc.ErrorInfo",
			"reason":   reason,
			"domain":   "iam.googleapis.com",
			"metadata": metadata,
		}}
	}
	return map[string]any{"error": e}
}

// signWithTestKey signs payload (a JSON claims string, as IAM's signJwt
// receives it) with the test key, as IAM would with the service account's
// system-managed key.
func signWithTestKey(t *testing.T, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(`{"alg":"RS256","kid":"`+testKeyID+`","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload))
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, testKeys(), crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + enc.EncodeToString(sig)
}
