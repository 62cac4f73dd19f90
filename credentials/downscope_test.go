package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/fakegoogle"
)

const testBoundary = `{
  "accessBoundary": {
    "accessBoundaryRules": [{
      "availablePermissions": ["inRole:roles/storage.objectViewer"],
      "availableResource": "//storage.googleapis.com/projects/_/buckets/b1",
      "availabilityCondition": {"title": "a only", "expression": "resource.name.startsWith('projects/_/buckets/b1/objects/a') && true"}
    }]
  }
}`

// canonicalTestBoundary is testBoundary as Downscope sends it.
const canonicalTestBoundary = `{"accessBoundary":{"accessBoundaryRules":[{"availableResource":"//storage.googleapis.com/projects/_/buckets/b1","availablePermissions":["inRole:roles/storage.objectViewer"],"availabilityCondition":{"expression":"resource.name.startsWith('projects/_/buckets/b1/objects/a') && true","title":"a only"}}]}}`

// stsServer is a fake STS at /v1/token that asserts the token-exchange form
// and answers with respond's body.
type stsServer struct {
	*httptest.Server
	calls atomic.Int32
}

func newSTSServer(t *testing.T, respond func(t *testing.T, form url.Values) (int, string)) *stsServer {
	t.Helper()
	s := &stsServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/token" {
			t.Errorf("got %s %s; want POST /v1/token", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("got Content-Type %q; want application/x-www-form-urlencoded", ct)
		}
		if h := r.Header.Get("Authorization"); h != "" {
			t.Errorf("got Authorization %q; STS wants none", h)
		}
		if err := r.ParseForm(); err != nil {
			t.Errorf("ParseForm: %v", err)
		}
		status, body := respond(t, r.PostForm)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *stsServer) url() string { return s.URL + "/v1/token" }

// checkExchangeForm asserts the downscoping form fields.
func checkExchangeForm(t *testing.T, form url.Values, subject, options string) {
	t.Helper()
	want := map[string]string{
		"grant_type":           "urn:ietf:params:oauth:grant-type:token-exchange",
		"subject_token":        subject,
		"subject_token_type":   "urn:ietf:params:oauth:token-type:access_token",
		"requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"options":              options,
	}
	for k, v := range want {
		if got := form.Get(k); got != v {
			t.Errorf("form %s = %q; want %q", k, got, v)
		}
	}
	for _, k := range []string{"audience", "scope"} {
		if _, ok := form[k]; ok {
			t.Errorf("form has %s; downscoping sends none", k)
		}
	}
	if len(form) != len(want) {
		t.Errorf("form has %d fields; want %d: %v", len(form), len(want), form)
	}
}

func TestDownscope(t *testing.T) {
	t.Parallel()
	src := sourceServer(t)
	sts := newSTSServer(t, func(t *testing.T, form url.Values) (int, string) {
		checkExchangeForm(t, form, sourceToken, canonicalTestBoundary)
		return 200, `{"access_token":"ya29.d.down","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":1800}`
	})
	source := sourceCreds(t, src)
	c, err := Downscope(source, &DownscopeOptions{Boundary: []byte(testBoundary), STSEndpoint: sts.url()})
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != TypeDownscoped || c.Principal != source.Principal || c.ProjectID != source.ProjectID {
		t.Errorf("got Type %q Principal %q ProjectID %q; want %q and the source's", c.Type, c.Principal, c.ProjectID, TypeDownscoped)
	}
	if !strings.Contains(c.Source, "downscoped") || !strings.HasSuffix(c.Source, source.Source) {
		t.Errorf("got Source %q; want it to say downscoped from %q", c.Source, source.Source)
	}
	if eps := c.TokenEndpoints(); len(eps) == 0 || eps[0] != sts.url() || eps[len(eps)-1] != src.tokenURL() {
		t.Errorf("got TokenEndpoints %q; want the STS URL then the source's", eps)
	}
	p, err := c.AccessTokenSource([]string{"https://www.googleapis.com/auth/devstorage.read_only"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		start := time.Now()
		tok, err := p.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if tok.Value != "ya29.d.down" || tok.Kind != gcptoken.AccessToken || tok.TokenType() != "Bearer" {
			t.Errorf("got token %+v", tok)
		}
		if d := tok.Expiry.Sub(start); d < 1799*time.Second || d > 1801*time.Second {
			t.Errorf("got expiry in %v; want 30m (expires_in)", d)
		}
		if got := sts.calls.Load(); got != int32(i+1) {
			t.Errorf("after %d calls: %d STS requests; the plain provider makes one each", i+1, got)
		}
	}
	if got := src.calls.Load(); got != 1 {
		t.Errorf("got %d source token requests; want 1 (the source token is cached)", got)
	}

	if _, err := c.IDTokenSource("https://x", nil); err == nil || !strings.Contains(err.Error(), "access tokens only") {
		t.Errorf("IDTokenProvider: got %v; want an access-tokens-only error", err)
	}
	if _, err := c.SelfSignedJWTSource("https://x/", nil); err == nil {
		t.Error("SelfSignedJWTProvider: got no error")
	}
	if _, err := c.WithSubject("u@example.com"); err == nil {
		t.Error("WithSubject: got no error")
	}
	if _, err := Downscope(c, &DownscopeOptions{Boundary: []byte(testBoundary)}); err == nil || !strings.Contains(err.Error(), "already downscoped") {
		t.Errorf("Downscope of downscoped: got %v", err)
	}
}

func TestDownscopeExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want time.Duration // from now; the source token lasts 3600s
	}{
		{"expires_in absent: the source's expiry", `{"access_token":"d","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer"}`, time.Hour},
		{"expires_in 0: the source's expiry", `{"access_token":"d","token_type":"Bearer","expires_in":0}`, time.Hour},
		{"expires_in beyond the source: clamped", `{"access_token":"d","token_type":"Bearer","expires_in":7200}`, time.Hour},
		{"expires_in shorter", `{"access_token":"d","expires_in":600}`, 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sts := newSTSServer(t, func(*testing.T, url.Values) (int, string) { return 200, tt.body })
			c, err := Downscope(sourceCreds(t, sourceServer(t)), &DownscopeOptions{Boundary: []byte(testBoundary), STSEndpoint: sts.url()})
			if err != nil {
				t.Fatal(err)
			}
			p, _ := c.AccessTokenSource(nil)
			start := time.Now()
			tok, err := p.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if d := tok.Expiry.Sub(start); d < tt.want-5*time.Second || d > tt.want+5*time.Second {
				t.Errorf("got expiry in %v; want about %v", d, tt.want)
			}
		})
	}
}

func TestDownscopeSTSErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		body        string
		invalid     bool // errors.Is(err, gcptoken.ErrInvalidCredentials)
		temporary   bool
		wantInError []string
	}{
		{"invalid_grant", 400, `{"error":"invalid_grant","error_description":"The subject_token is invalid."}`, true, false,
			[]string{"downscoped", "/v1/token", "HTTP 400 invalid_grant", "subject_token is invalid"}},
		{"invalid_request", 400, `{"error":"invalid_request","error_description":"bad rule"}`, false, false, []string{"invalid_request", "bad rule"}},
		{"outage", 503, `oops`, false, true, []string{"HTTP 503"}},
		{"no access_token", 200, `{"token_type":"Bearer"}`, false, false, []string{"no access_token"}},
		{"not JSON", 200, `<html>`, false, false, []string{"malformed response"}},
		{"wrong issued_token_type", 200, `{"access_token":"d","issued_token_type":"urn:ietf:params:oauth:token-type:jwt"}`, false, false, []string{"issued_token_type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sts := newSTSServer(t, func(*testing.T, url.Values) (int, string) { return tt.status, tt.body })
			c, err := Downscope(sourceCreds(t, sourceServer(t)), &DownscopeOptions{Boundary: []byte(testBoundary), STSEndpoint: sts.url()})
			if err != nil {
				t.Fatal(err)
			}
			p, _ := c.AccessTokenSource(nil)
			_, err = p.Token(context.Background())
			wantErrContains(t, err, tt.wantInError...)
			if got := errors.Is(err, gcptoken.ErrInvalidCredentials); got != tt.invalid {
				t.Errorf("errors.Is(err, ErrInvalidCredentials) = %t; want %t", got, tt.invalid)
			}
			if got := gcptoken.IsTemporary(err); got != tt.temporary {
				t.Errorf("IsTemporary(err) = %t; want %t", got, tt.temporary)
			}
		})
	}

	t.Run("source fails", func(t *testing.T) {
		t.Parallel()
		src := newTokenServer(t, func(*testing.T, url.Values) (int, any) {
			return 400, map[string]any{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
		})
		sts := newSTSServer(t, func(t *testing.T, _ url.Values) (int, string) {
			t.Error("STS called although the source failed")
			return 500, ""
		})
		c, err := Downscope(sourceCreds(t, src), &DownscopeOptions{Boundary: []byte(testBoundary), STSEndpoint: sts.url()})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := c.AccessTokenSource(nil)
		_, err = p.Token(context.Background())
		wantErrContains(t, err, "source credential", "Invalid JWT Signature")
		if !errors.Is(err, gcptoken.ErrInvalidCredentials) {
			t.Errorf("got %v; want ErrInvalidCredentials", err)
		}
	})
}

func TestDownscopeOptionsErrors(t *testing.T) {
	t.Parallel()
	source := sourceCreds(t, sourceServer(t))
	rule := func(r string) string { return `{"accessBoundary":{"accessBoundaryRules":[` + r + `]}}` }
	tests := []struct {
		name      string
		boundary  string
		endpoint  string
		field     string // the AccessBoundaryError's Field; "-" for no AccessBoundaryError
		fragments []string
	}{
		{"empty", "  ", "", "", []string{"is empty"}},
		{"not JSON", `{"accessBoundary":`, "", "", []string{"malformed JSON"}},
		{"an array", `[]`, "", "", []string{"malformed JSON"}},
		{"no accessBoundary", `{"x":1}`, "", "accessBoundary", []string{"missing"}},
		{"rules at the top", `{"accessBoundaryRules":[]}`, "", "accessBoundaryRules", []string{`inside "accessBoundary"`}},
		{"null accessBoundary", `{"accessBoundary":null}`, "", "accessBoundary", []string{"null"}},
		{"no rules", `{"accessBoundary":{}}`, "", "accessBoundary.accessBoundaryRules", []string{"at least one rule"}},
		{"empty rules", rule(""), "", "accessBoundary.accessBoundaryRules", []string{"at least one rule"}},
		{"eleven rules", rule(strings.Repeat(`{"availableResource":"r","availablePermissions":["inRole:x"]},`, 10) +
			`{"availableResource":"r","availablePermissions":["inRole:x"]}`), "", "accessBoundary.accessBoundaryRules", []string{"11 rules", "at most 10"}},
		{"no resource", rule(`{"availablePermissions":["inRole:x"]}`), "", "accessBoundary.accessBoundaryRules[0].availableResource", []string{"missing"}},
		{"no permissions", rule(`{"availableResource":"r"}`), "", "accessBoundary.accessBoundaryRules[0].availablePermissions", []string{"missing"}},
		{"bad prefix", rule(`{"availableResource":"r","availablePermissions":["inRole:x"]},{"availableResource":"r","availablePermissions":["inRole:x","roles/y"]}`),
			"", "accessBoundary.accessBoundaryRules[1].availablePermissions[1]", []string{`"roles/y"`, `"inRole:"`}},
		{"condition without expression", rule(`{"availableResource":"r","availablePermissions":["inRole:x"],"availabilityCondition":{"title":"t"}}`),
			"", "accessBoundary.accessBoundaryRules[0].availabilityCondition.expression", []string{"missing"}},
		{"permissions a string", rule(`{"availableResource":"r","availablePermissions":"inRole:x"}`), "", "accessBoundary.accessBoundaryRules.availablePermissions", []string{"string"}},
		{"misspelt field", rule(`{"availableResource":"r","availablePermission":["inRole:x"]}`), "", "", []string{`unknown field "availablePermission"`}},
		{"bad endpoint", testBoundary, "sts.example.com/v1/token", "-", []string{"STSEndpoint"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Downscope(source, &DownscopeOptions{Boundary: []byte(tt.boundary), STSEndpoint: tt.endpoint})
			wantErrContains(t, err, append([]string{"credentials: Downscope: "}, tt.fragments...)...)
			var be *AccessBoundaryError
			switch {
			case !errors.As(err, &be):
				if tt.field != "-" {
					t.Errorf("got %T; want an *AccessBoundaryError", err)
				}
			case be.Field != tt.field:
				t.Errorf("got Field %q; want %q", be.Field, tt.field)
			}
		})
	}
	if _, err := Downscope(nil, &DownscopeOptions{Boundary: []byte(testBoundary)}); err == nil {
		t.Error("nil source: got no error")
	}
	if _, err := Downscope(source, nil); err == nil {
		t.Error("nil options: got no error")
	}
}

func TestDownscopeIdentity(t *testing.T) {
	t.Parallel()
	source := sourceCreds(t, sourceServer(t))
	mk := func(b string) *Credentials {
		t.Helper()
		c, err := Downscope(source, &DownscopeOptions{Boundary: []byte(b)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := mk(testBoundary)
	// The same boundary written differently: other order, no whitespace.
	a2 := mk(canonicalTestBoundary)
	other := mk(strings.Replace(testBoundary, "objectViewer", "objectAdmin", 1))
	if a.Identity() != a2.Identity() {
		t.Errorf("equal boundaries give identities %q and %q; want the same", a.Identity(), a2.Identity())
	}
	if a.Identity() == other.Identity() {
		t.Errorf("different boundaries share identity %q", a.Identity())
	}
	if a.Identity() == source.Identity() || !strings.HasPrefix(a.Identity(), "downscoped|") || !strings.HasSuffix(a.Identity(), "|"+source.Identity()) {
		t.Errorf("got identity %q; want downscoped|<hash>|%s", a.Identity(), source.Identity())
	}
	if got := a.TokenEndpoints()[0]; got != DefaultSTSEndpoint {
		t.Errorf("got default STS endpoint %q; want %q", got, DefaultSTSEndpoint)
	}
	source.UniverseDomain = "example.com"
	if got := mk(testBoundary).TokenEndpoints()[0]; got != "https://sts.example.com/v1/token" {
		t.Errorf("got STS endpoint %q in universe example.com", got)
	}
}

// TestDownscopeFakeGoogle runs the whole exchange against fakegoogle's STS:
// the token it returns is restricted, as its tokeninfo says.
func TestDownscopeFakeGoogle(t *testing.T) {
	t.Parallel()
	f, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	key, err := f.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	source, err := FromJSON(key, isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Downscope(source, &DownscopeOptions{Boundary: []byte(testBoundary), STSEndpoint: f.STSURL()})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.AccessTokenSource([]string{scopeCP})
	tok, err := p.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(tok.Expiry); d < 58*time.Minute || d > time.Hour {
		t.Errorf("got expiry in %v; want about an hour", d)
	}
	resp, err := http.PostForm(f.URL+"/tokeninfo", url.Values{"access_token": {tok.Value}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	want := `{"accessBoundaryRules":[{"availableResource":"//storage.googleapis.com/projects/_/buckets/b1","availablePermissions":["inRole:roles/storage.objectViewer"],"availabilityCondition":{"expression":"resource.name.startsWith('projects/_/buckets/b1/objects/a') && true","title":"a only"}}]}`
	if info["access_boundary"] != want {
		t.Errorf("tokeninfo access_boundary = %q; want %q", info["access_boundary"], want)
	}
	if f.RequestCount("/v1/token") != 1 {
		t.Errorf("got %d STS requests; want 1", f.RequestCount("/v1/token"))
	}
}
