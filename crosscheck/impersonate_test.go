package crosscheck_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// Impersonation: Google's clients against the fake's IAM Credentials API
// (protocol.md §6). Every peer is pointed at the API only through the
// library's own endpoint parameter (Python's iam_endpoint_override, Node's
// Impersonated `endpoint`); that base is a recorder in front of the fake, so
// the test sees exactly what each library sent.

// Accounts of the delegation chain: the source (DefaultServiceAccount)
// holds Token Creator on impDelegate only, and impDelegate on
// impChainTarget. So impChainTarget is reachable only through the
// delegate: a client that dropped `delegates` gets a 403.
const (
	impDelegate    = "imp-delegate@fake-project.iam.gserviceaccount.com"
	impChainTarget = "imp-chain-target@fake-project.iam.gserviceaccount.com"
)

// impLifetime is what the peers ask for; the fake's default is 1 h, so a
// peer reporting ~30 min shows the requested lifetime went through.
const impLifetime = 30 * time.Minute

// impScopes are the target scopes: userinfo.email makes tokeninfo name the
// target by email as well as by unique id.
var impScopes = []string{scopeCloudPlatform, scopeEmail}

// iamCall is one request the recorder saw under /v1/.
type iamCall struct {
	Method, Path string
	Bearer       string // the caller's token; never logged
	Body         map[string]any
	Status       int
	Answer       string // the body of answers >= 300
}

func (c iamCall) String() string {
	auth := "no Authorization"
	if c.Bearer != "" {
		auth = "Authorization: Bearer <token>"
	}
	body, _ := json.Marshal(c.Body)
	s := c.Method + " " + c.Path + " (" + auth + ") " + string(body) + " -> " + http.StatusText(c.Status)
	if c.Answer != "" {
		s += ": " + c.Answer
	}
	return s
}

// iamRecorder is a test-only middleware in front of the fake's handler: it
// records every IAM Credentials request (method, path, bearer token, JSON
// body, status) and passes everything through unchanged.
type iamRecorder struct {
	next  http.Handler
	mu    sync.Mutex
	calls []iamCall
}

type statusWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status >= 300 && w.body.Len() < 4096 {
		w.body.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

func (rec *iamRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		rec.next.ServeHTTP(w, r)
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(raw))
	c := iamCall{Method: r.Method, Path: r.URL.Path}
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		c.Bearer = strings.TrimSpace(tok)
	}
	_ = json.Unmarshal(raw, &c.Body)
	sw := &statusWriter{ResponseWriter: w}
	rec.next.ServeHTTP(sw, r)
	c.Status, c.Answer = sw.status, strings.TrimSpace(sw.body.String())
	rec.mu.Lock()
	rec.calls = append(rec.calls, c)
	rec.mu.Unlock()
}

// since returns the calls recorded after the first n.
func (rec *iamRecorder) since(n int) []iamCall {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.calls[n:])
}

func (rec *iamRecorder) mark() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.calls)
}

type impFixture struct {
	*fixture
	rec     *iamRecorder
	iamBase string // the recorder's URL: what the peers are given
	target  *fakegoogle.ServiceAccount
	chain   *fakegoogle.ServiceAccount
}

// newImpFixture is newFixture plus the delegation chain and the recorder,
// served on its own 127.0.0.1 port.
func newImpFixture(t *testing.T) *impFixture {
	t.Helper()
	f := &impFixture{fixture: newFixture(t)}
	var ok bool
	if f.target, ok = f.fake.ServiceAccount(fakegoogle.DefaultTargetServiceAccount); !ok {
		t.Fatalf("fakegoogle has no %s", fakegoogle.DefaultTargetServiceAccount)
	}
	if _, err := f.fake.AddServiceAccount(impDelegate); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.chain, err = f.fake.AddServiceAccount(impChainTarget); err != nil {
		t.Fatal(err)
	}
	for _, g := range [][2]string{{fakegoogle.DefaultServiceAccount, impDelegate}, {impDelegate, impChainTarget}} {
		if err := f.fake.GrantTokenCreator(g[0], g[1]); err != nil {
			t.Fatal(err)
		}
	}
	f.rec = &iamRecorder{next: f.fake.Server}
	srv := httptest.NewServer(f.rec) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	f.iamBase = srv.URL
	t.Logf("fakegoogle at %s; IAM Credentials recorder at %s", f.fake.IAMCredentialsURL(), f.iamBase)
	return f
}

// iamPath is the path of an IAM Credentials method on a service account.
func iamPath(email, method string) string {
	return "/v1/projects/-/serviceAccounts/" + email + ":" + method
}

// generateURL is the full URL Python's iam_endpoint_override takes.
func (f *impFixture) generateURL(email string) string {
	return f.iamBase + iamPath(email, "generateAccessToken")
}

// expectIAMCall finds the one call to path among calls, checks it was an
// authenticated POST with the wanted status, and returns it.
func expectIAMCall(t *testing.T, calls []iamCall, path string, status int) iamCall {
	t.Helper()
	var found []iamCall
	for _, c := range calls {
		if c.Path == path {
			found = append(found, c)
		}
	}
	if len(found) == 0 {
		t.Fatalf("the fake saw no request for %s; it saw:\n%s", path, dumpIAM(calls))
	}
	c := found[0]
	if c.Method != http.MethodPost || c.Bearer == "" || c.Status != status {
		t.Errorf("request for %s: %v; want an authenticated POST answered %d", path, c, status)
	}
	return c
}

func dumpIAM(calls []iamCall) string {
	var b strings.Builder
	for _, c := range calls {
		b.WriteString("  " + c.String() + "\n")
	}
	return b.String()
}

// checkImpExpiry checks an expiry is about impLifetime away.
func checkImpExpiry(t *testing.T, what string, exp time.Time) {
	t.Helper()
	now := time.Now()
	lo, hi := now.Add(impLifetime-5*time.Minute), now.Add(impLifetime+time.Minute)
	if exp.Before(lo) || exp.After(hi) {
		t.Errorf("%s expiry = %v; want about %v from now (between %v and %v)", what, exp.UTC(), impLifetime, lo.UTC(), hi.UTC())
	}
}

// tokeninfo returns the fake's tokeninfo for an access token.
func (f *impFixture) tokeninfo(t *testing.T, what, tok string) map[string]string {
	t.Helper()
	if tok == "" {
		t.Fatalf("%s is empty", what)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.fake.URL+"/oauth2/v3/tokeninfo?access_token="+tok, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("tokeninfo for %s: %v", what, err)
	}
	defer resp.Body.Close()
	var info map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("tokeninfo for %s: status %d, decode error %v", what, resp.StatusCode, err)
	}
	return info
}

// checkImpersonatedToken checks via tokeninfo that an access token was
// issued to sa, with impScopes.
func (f *impFixture) checkImpersonatedToken(t *testing.T, what, tok string, sa *fakegoogle.ServiceAccount) {
	t.Helper()
	info := f.tokeninfo(t, what, tok)
	if info["aud"] != sa.UniqueID || info["sub"] != sa.UniqueID || info["email"] != sa.Email ||
		!slices.Equal(strings.Fields(info["scope"]), impScopes) {
		t.Errorf("tokeninfo for %s = %v; want aud and sub %q, email %q, scope %q", what, info, sa.UniqueID, sa.Email, impScopes)
	}
}

// checkImpIDToken checks an impersonated ID token: the target's claims, and
// the sample service answers 200 naming the target (401 without a token).
func (f *impFixture) checkImpIDToken(t *testing.T, what, tok string, sa *fakegoogle.ServiceAccount) {
	t.Helper()
	if tok == "" {
		t.Fatalf("%s is empty", what)
	}
	c := claims(t, what, tok)
	checkClaims(t, what, c, map[string]string{"aud": f.sampleURL, "iss": googleIssuer, "email": sa.Email, "sub": sa.UniqueID})
	if c["email_verified"] != true {
		t.Errorf("%s email_verified = %v; want true", what, c["email_verified"])
	}
	client := &http.Client{Timeout: 10 * time.Second}
	call := func(auth string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.sampleURL+"?start=1&end=3", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("sample service: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode, string(body)
	}
	status, body := call("Bearer " + tok)
	var got struct {
		Range  []int
		Caller string
	}
	if status != http.StatusOK {
		t.Errorf("sample service with %s: status = %d; want 200; body: %s", what, status, body)
	} else if err := json.Unmarshal([]byte(body), &got); err != nil || got.Caller != sa.Email || !slices.Equal(got.Range, []int{1, 2, 3}) {
		t.Errorf("sample service with %s: body = %s (err %v); want range [1 2 3] and caller %q", what, body, err, sa.Email)
	}
	if status, body := call(""); status != http.StatusUnauthorized {
		t.Errorf("sample service without a token: status = %d; want 401; body: %s", status, body)
	}
}

// checkSourceToken checks the caller's Bearer token on an IAM call belongs
// to the source service account and carries wantScope.
func (f *impFixture) checkSourceToken(t *testing.T, what string, c iamCall, wantScope string) {
	t.Helper()
	info := f.tokeninfo(t, what+" caller token", c.Bearer)
	if info["aud"] != f.sa.UniqueID || strings.Join(strings.Fields(info["scope"]), " ") != wantScope {
		t.Errorf("%s: the caller token's tokeninfo = %v; want the source %q with scope %q", what, info, f.sa.UniqueID, wantScope)
	}
}

// checkDelegates checks the delegates a peer sent, whatever JSON form.
func checkDelegates(t *testing.T, what string, c iamCall, want []string) {
	t.Helper()
	raw, present := c.Body["delegates"]
	var got []string
	if list, ok := raw.([]any); ok {
		for _, d := range list {
			s, _ := d.(string)
			got = append(got, s)
		}
	}
	if !present || !slices.Equal(got, want) {
		t.Errorf("%s: delegates sent = %#v (present %v); want %q", what, raw, present, want)
	}
}

// ---------------------------------------------------------------------------
// Python google-auth 2.x: impersonated_credentials.Credentials.

func TestImpersonationPython(t *testing.T) {
	p := requirePeer(t, pythonPeer())
	f := newImpFixture(t)

	// The chain, as Google wants delegates written; and the target again
	// without the delegate, which must be refused (see impChainTarget).
	chainDelegates := []string{"projects/-/serviceAccounts/" + impDelegate}
	mark := f.rec.mark()
	tokensBefore := f.tokenRequests()
	out := decode[struct {
		Cases map[string]struct {
			Token     string
			Expiry    string
			Valid     bool
			ErrorType string `json:"error_type"`
			Error     string
		}
	}](t, runPython(t, f.fixture, p, "imp_access_token.py", map[string]any{
		"key_file": f.keyFile, "source_scopes": []string{scopeCloudPlatform},
		"cases": []map[string]any{
			{"name": "direct", "target": f.target.Email, "delegates": nil, "scopes": impScopes,
				"lifetime": int(impLifetime / time.Second), "iam_endpoint": f.generateURL(f.target.Email)},
			{"name": "chain", "target": f.chain.Email, "delegates": chainDelegates, "scopes": impScopes,
				"lifetime": int(impLifetime / time.Second), "iam_endpoint": f.generateURL(f.chain.Email)},
			{"name": "no_grant", "target": f.chain.Email, "delegates": nil, "scopes": impScopes,
				"lifetime": int(impLifetime / time.Second), "iam_endpoint": f.generateURL(f.chain.Email), "expect_error": true},
		},
	}))
	calls := f.rec.since(mark)
	t.Logf("IAM Credentials requests:\n%s", dumpIAM(calls))
	if f.tokenRequests() == tokensBefore {
		t.Error("the fake saw no token request for the source credentials")
	}

	t.Run("access_token", func(t *testing.T) {
		got := out.Cases["direct"]
		c := expectIAMCall(t, calls, iamPath(f.target.Email, "generateAccessToken"), http.StatusOK)
		// Python replaces a service-account source's scopes with iam.
		f.checkSourceToken(t, "direct", c, "https://www.googleapis.com/auth/iam")
		if c.Body["lifetime"] != "1800s" || !slices.Equal(toStrings(c.Body["scope"]), impScopes) {
			t.Errorf("request body = %v; want lifetime 1800s and scope %q", c.Body, impScopes)
		}
		if d, present := c.Body["delegates"]; !present || d != nil {
			t.Errorf("delegates sent = %#v (present %v); want null (google-auth sends delegates=None as null)", d, present)
		}
		f.checkImpersonatedToken(t, "impersonated token", got.Token, f.target)
		// google-auth parsed the fake's expireTime with "%Y-%m-%dT%H:%M:%SZ".
		checkImpExpiry(t, "impersonated token", parseRFC3339(t, "impersonated token", got.Expiry))
		if !got.Valid {
			t.Error("credentials not valid after refresh")
		}
	})

	t.Run("delegates_chain", func(t *testing.T) {
		got := out.Cases["chain"]
		var c iamCall
		for _, x := range calls {
			if x.Path == iamPath(f.chain.Email, "generateAccessToken") && x.Status == http.StatusOK {
				c = x
			}
		}
		if c.Path == "" {
			t.Fatalf("no successful generateAccessToken for %s; calls:\n%s", f.chain.Email, dumpIAM(calls))
		}
		if c.Bearer == "" {
			t.Error("generateAccessToken through the chain had no Authorization header")
		}
		checkDelegates(t, "chain", c, chainDelegates)
		f.checkImpersonatedToken(t, "impersonated token through "+impDelegate, got.Token, f.chain)
		checkImpExpiry(t, "chain token", parseRFC3339(t, "chain token", got.Expiry))
	})

	t.Run("permission_denied", func(t *testing.T) {
		got := out.Cases["no_grant"]
		if got.Token != "" {
			t.Fatalf("impersonating %s without the delegate succeeded; want a 403", f.chain.Email)
		}
		if got.ErrorType != "google.auth.exceptions.RefreshError" || !strings.Contains(got.Error, "PERMISSION_DENIED") {
			t.Errorf("error = %s: %s; want google.auth.exceptions.RefreshError mentioning PERMISSION_DENIED", got.ErrorType, got.Error)
		}
		var denied bool
		for _, c := range calls {
			if c.Path == iamPath(f.chain.Email, "generateAccessToken") && c.Status == http.StatusForbidden && c.Bearer != "" {
				denied = true
			}
		}
		if !denied {
			t.Errorf("the fake answered no authenticated generateAccessToken for %s with 403; calls:\n%s", f.chain.Email, dumpIAM(calls))
		}
	})
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// ---------------------------------------------------------------------------
// Node google-auth-library: Impersonated.

func TestImpersonationNode(t *testing.T) {
	p := requirePeer(t, nodePeer())
	f := newImpFixture(t)

	chainDelegates := []string{impDelegate} // Node passes them as given
	mark := f.rec.mark()
	out := decode[struct {
		Cases map[string]struct {
			Token      string
			ExpiryDate int64  `json:"expiry_date"`
			IDToken    string `json:"id_token"`
			Error      string
			Status     int
		}
		Redirects []struct{ From, To string }
	}](t, runNode(t, f.fixture, p, "imp_impersonated.js", map[string]any{
		"base": f.iamBase, "key_file": f.keyFile, "source_scopes": []string{scopeCloudPlatform},
		"cases": []map[string]any{
			{"name": "direct", "target": f.target.Email, "scopes": impScopes,
				"lifetime": int(impLifetime / time.Second), "audience": f.sampleURL},
			{"name": "chain", "target": f.chain.Email, "delegates": chainDelegates, "scopes": impScopes,
				"lifetime": int(impLifetime / time.Second), "audience": f.sampleURL},
			{"name": "no_grant", "target": f.chain.Email, "scopes": impScopes,
				"lifetime": int(impLifetime / time.Second), "expect_error": true},
		},
	}))
	calls := f.rec.since(mark)
	t.Logf("IAM Credentials requests:\n%s", dumpIAM(calls))
	// The source grant went to Google's URL and was redirected; nothing else.
	for _, r := range out.Redirects {
		if r.From != "https://oauth2.googleapis.com/token" || r.To != f.iamBase+"/token" {
			t.Errorf("redirect %+v; want only https://oauth2.googleapis.com/token -> %s/token", r, f.iamBase)
		}
	}
	if len(out.Redirects) == 0 {
		t.Error("the source client's token request was not seen by the interceptor")
	}

	t.Run("access_token", func(t *testing.T) {
		got := out.Cases["direct"]
		c := expectIAMCall(t, calls, iamPath(f.target.Email, "generateAccessToken"), http.StatusOK)
		f.checkSourceToken(t, "direct", c, scopeCloudPlatform)
		if c.Body["lifetime"] != "1800s" || !slices.Equal(toStrings(c.Body["scope"]), impScopes) {
			t.Errorf("request body = %v; want lifetime 1800s and scope %q", c.Body, impScopes)
		}
		checkDelegates(t, "direct", c, nil)
		f.checkImpersonatedToken(t, "impersonated token", got.Token, f.target)
		checkImpExpiry(t, "impersonated token", time.UnixMilli(got.ExpiryDate))
	})

	t.Run("id_token", func(t *testing.T) {
		c := expectIAMCall(t, calls, iamPath(f.target.Email, "generateIdToken"), http.StatusOK)
		if c.Body["audience"] != f.sampleURL || c.Body["includeEmail"] != true {
			t.Errorf("generateIdToken body = %v; want audience %q and includeEmail true", c.Body, f.sampleURL)
		}
		f.checkImpIDToken(t, "fetchIdToken token", out.Cases["direct"].IDToken, f.target)
		// Node also sends useEmailAzp: true, which Google honours (§3.2 B).
		if azp := claims(t, "fetchIdToken token", out.Cases["direct"].IDToken)["azp"]; azp != f.target.Email {
			t.Errorf("fetchIdToken token azp = %v; want %q (useEmailAzp)", azp, f.target.Email)
		}
	})

	t.Run("delegates_chain", func(t *testing.T) {
		got := out.Cases["chain"]
		c := expectIAMCall(t, calls, iamPath(f.chain.Email, "generateAccessToken"), http.StatusOK)
		checkDelegates(t, "chain", c, chainDelegates)
		f.checkImpersonatedToken(t, "impersonated token through "+impDelegate, got.Token, f.chain)
		checkImpExpiry(t, "chain token", time.UnixMilli(got.ExpiryDate))
		idc := expectIAMCall(t, calls, iamPath(f.chain.Email, "generateIdToken"), http.StatusOK)
		checkDelegates(t, "chain generateIdToken", idc, chainDelegates)
		f.checkImpIDToken(t, "fetchIdToken token through "+impDelegate, got.IDToken, f.chain)
	})

	t.Run("permission_denied", func(t *testing.T) {
		got := out.Cases["no_grant"]
		if got.Token != "" {
			t.Fatalf("impersonating %s without the delegate succeeded; want a 403", f.chain.Email)
		}
		if got.Status != http.StatusForbidden || !strings.HasPrefix(got.Error, "PERMISSION_DENIED: unable to impersonate: ") {
			t.Errorf("error = %d %q; want 403 and Node's \"PERMISSION_DENIED: unable to impersonate: …\"", got.Status, got.Error)
		}
		var denied int
		for _, c := range calls {
			if c.Path == iamPath(f.chain.Email, "generateAccessToken") && c.Status == http.StatusForbidden && c.Bearer != "" {
				denied++
			}
		}
		// 403 is not in gaxios' retry list, so Node asks once.
		if denied != 1 {
			t.Errorf("authenticated generateAccessToken for %s answered 403: %d times; want 1; calls:\n%s", f.chain.Email, denied, dumpIAM(calls))
		}
	})
}
