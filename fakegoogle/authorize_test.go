package fakegoogle

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testVerifier is a fixed PKCE verifier (43 characters) and its S256
// challenge, computed here rather than by the fake.
const testVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

func s256(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// noFollow is a client that reports redirects instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func fetch(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

func authGet(t *testing.T, f *testFake, path string, q url.Values) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.URL+path+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return fetch(t, req)
}

func authPost(t *testing.T, f *testFake, path string, form url.Values) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return fetch(t, req)
}

const testRedirect = "http://127.0.0.1:43210/"

// authParams is a valid installed-app authorization request.
func authParams() url.Values {
	return url.Values{
		"client_id":             {DefaultClientID},
		"redirect_uri":          {testRedirect},
		"response_type":         {"code"},
		"scope":                 {"openid email https://www.googleapis.com/auth/cloud-platform"},
		"state":                 {"st-123"},
		"code_challenge":        {s256(testVerifier)},
		"code_challenge_method": {"S256"},
		"access_type":           {"offline"},
		"prompt":                {"consent"},
	}
}

var consentIDRE = regexp.MustCompile(`name="consent" value="([^"]+)"`)

// consent shows the consent page for q and answers it.
func consent(t *testing.T, f *testFake, q url.Values, decision, account string) *url.URL {
	t.Helper()
	page := authGet(t, f, "/o/oauth2/v2/auth", q)
	if page.status != http.StatusOK {
		t.Fatalf("consent page: status %d; want 200\n%s", page.status, page.body)
	}
	m := consentIDRE.FindSubmatch(page.body)
	if m == nil {
		t.Fatalf("consent page has no consent id:\n%s", page.body)
	}
	r := authPost(t, f, "/o/oauth2/v2/auth", url.Values{"consent": {string(m[1])}, "decision": {decision}, "account": {account}})
	if r.status != http.StatusFound {
		t.Fatalf("decision: status %d; want 302\n%s", r.status, r.body)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func exchange(t *testing.T, f *testFake, code, redirect, verifier string) response {
	t.Helper()
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
		"client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret},
	}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	return postForm(t, f.URL+"/token", form, nil)
}

func TestAuthorizeAllowExchangeRefreshReplay(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	f.AddUser("other@example.com")
	q := authParams()
	q.Set("login_hint", "other@example.com")
	page := authGet(t, f, "/o/oauth2/auth", q) // the legacy path Go's libraries use
	if page.status != http.StatusOK || page.header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("consent page: status %d, type %q", page.status, page.header.Get("Content-Type"))
	}
	for _, want := range []string{DefaultUser, `value="other@example.com" checked`, `id="allow"`, `id="deny"`, "https://www.googleapis.com/auth/cloud-platform"} {
		if !strings.Contains(string(page.body), want) {
			t.Errorf("consent page lacks %q", want)
		}
	}

	loc := consent(t, f, q, "allow", "other@example.com")
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
		t.Fatalf("redirected to %q; want %q", got, testRedirect)
	}
	lq := loc.Query()
	if lq.Get("state") != "st-123" || lq.Get("iss") != "https://accounts.google.com" || !strings.HasPrefix(lq.Get("code"), "4/") {
		t.Errorf("redirect query = %v; want state st-123, iss and a 4/… code", lq)
	}
	code := lq.Get("code")

	r := exchange(t, f, code, testRedirect, testVerifier)
	if r.status != http.StatusOK {
		t.Fatalf("exchange: status %d: %s", r.status, r.body)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		ExpiresIn    int    `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
		Scope        string `json:"scope"`
		TokenType    string `json:"token_type"`
		IDToken      string `json:"id_token"`
	}
	if err := json.Unmarshal(r.body, &tok); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.AccessToken, "ya29.") || tok.ExpiresIn != 3599 || tok.TokenType != "Bearer" || !strings.HasPrefix(tok.RefreshToken, "1//") {
		t.Errorf("token response = %s", r.body)
	}
	if want := "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/cloud-platform"; tok.Scope != want {
		t.Errorf("scope = %q; want %q", tok.Scope, want)
	}
	_, claims := decodeJWT(t, tok.IDToken)
	if claims["email"] != "other@example.com" || claims["aud"] != DefaultClientID || claims["iss"] != "https://accounts.google.com" {
		t.Errorf("id_token claims = %v; want email other@example.com, aud the client", claims)
	}
	if rr := refresh(t, f, DefaultClientID, DefaultClientSecret, tok.RefreshToken); rr.status != http.StatusOK {
		t.Fatalf("refresh with the new refresh token: status %d: %s", rr.status, rr.body)
	}

	// Replaying the code fails and revokes what it gave.
	wantOAuthError(t, exchange(t, f, code, testRedirect, testVerifier), 400, "invalid_grant", "Bad Request")
	wantOAuthError(t, refresh(t, f, DefaultClientID, DefaultClientSecret, tok.RefreshToken), 400, "invalid_grant", descRefreshRevoked)
	if ti := get(t, f.URL+"/tokeninfo?access_token="+tok.AccessToken, nil); ti.status == http.StatusOK {
		t.Errorf("tokeninfo of the access token after the replay: status 200; want it revoked")
	}
}

func TestAuthorizeDeny(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	q := authParams()
	page := authGet(t, f, "/o/oauth2/v2/auth", q)
	id := string(consentIDRE.FindSubmatch(page.body)[1])
	r := authPost(t, f, "/o/oauth2/v2/auth", url.Values{"consent": {id}, "decision": {"deny"}, "account": {DefaultUser}})
	loc, _ := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusFound || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st-123" || loc.Query().Has("code") {
		t.Fatalf("deny: status %d, Location %q; want 302 with error=access_denied, the state and no code", r.status, r.header.Get("Location"))
	}
	// The page answers once.
	again := authPost(t, f, "/o/oauth2/v2/auth", url.Values{"consent": {id}, "decision": {"allow"}, "account": {DefaultUser}})
	if again.status != http.StatusBadRequest || again.header.Get("Location") != "" {
		t.Errorf("second answer: status %d, Location %q; want 400 page, no redirect", again.status, again.header.Get("Location"))
	}
}

// TestAuthorizeErrorPages covers requests whose redirect URI cannot be
// trusted: they get a page, never a redirect.
func TestAuthorizeErrorPages(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	if err := f.AddWebClient("web-client", "web-secret", "https://app.example.com/callback"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		set        map[string]string
		wantStatus int
		wantCode   string
	}{
		{"no client id", map[string]string{"client_id": ""}, 400, "invalid_request"},
		{"unknown client", map[string]string{"client_id": "nobody.apps.googleusercontent.com"}, 401, "invalid_client"},
		{"no redirect", map[string]string{"redirect_uri": ""}, 400, "invalid_request"},
		{"remote host for desktop client", map[string]string{"redirect_uri": "http://evil.example.com/"}, 400, "redirect_uri_mismatch"},
		{"https loopback", map[string]string{"redirect_uri": "https://127.0.0.1:8080/"}, 400, "redirect_uri_mismatch"},
		{"loopback with fragment", map[string]string{"redirect_uri": "http://127.0.0.1:8080/#x"}, 400, "redirect_uri_mismatch"},
		{"web client, unregistered URI", map[string]string{"client_id": "web-client", "redirect_uri": "https://app.example.com/other"}, 400, "redirect_uri_mismatch"},
		{"web client, loopback", map[string]string{"client_id": "web-client", "redirect_uri": "http://127.0.0.1:8080/"}, 400, "redirect_uri_mismatch"},
		// The redirect URI is checked before everything redirected.
		{"bad redirect and bad scope", map[string]string{"redirect_uri": "http://evil.example.com/", "scope": "nonsense"}, 400, "redirect_uri_mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := authParams()
			for k, v := range tt.set {
				q.Set(k, v)
			}
			r := authGet(t, f, "/o/oauth2/v2/auth", q)
			if r.status != tt.wantStatus {
				t.Errorf("status = %d; want %d\n%s", r.status, tt.wantStatus, r.body)
			}
			if loc := r.header.Get("Location"); loc != "" {
				t.Errorf("redirected to %q; an unvalidated redirect URI must get an error page", loc)
			}
			if want := fmt.Sprintf("Error %d: %s", tt.wantStatus, tt.wantCode); !strings.Contains(string(r.body), want) {
				t.Errorf("page lacks %q:\n%s", want, r.body)
			}
		})
	}
}

// TestAuthorizeErrorRedirects covers bad requests with a valid redirect
// URI: the error goes back to the client with the state.
func TestAuthorizeErrorRedirects(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	tests := []struct {
		name      string
		set       map[string]string
		wantError string
	}{
		{"no response_type", map[string]string{"response_type": ""}, "invalid_request"},
		{"implicit flow", map[string]string{"response_type": "token"}, "unsupported_response_type"},
		{"no scope", map[string]string{"scope": ""}, "invalid_request"},
		{"short scope name", map[string]string{"scope": "cloud-platform"}, "invalid_scope"},
		{"unknown challenge method", map[string]string{"code_challenge_method": "S512"}, "invalid_request"},
		{"short challenge", map[string]string{"code_challenge": "abc"}, "invalid_request"},
		{"method without challenge", map[string]string{"code_challenge": ""}, "invalid_request"},
		{"bad access_type", map[string]string{"access_type": "forever"}, "invalid_request"},
		{"bad prompt", map[string]string{"prompt": "later"}, "invalid_request"},
		{"prompt none", map[string]string{"prompt": "none"}, "login_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := authParams()
			for k, v := range tt.set {
				q.Set(k, v)
			}
			r := authGet(t, f, "/o/oauth2/v2/auth", q)
			if r.status != http.StatusFound {
				t.Fatalf("status = %d; want 302\n%s", r.status, r.body)
			}
			loc, err := url.Parse(r.header.Get("Location"))
			if err != nil || !strings.HasPrefix(loc.String(), testRedirect) {
				t.Fatalf("Location = %q; want the redirect URI", r.header.Get("Location"))
			}
			if got := loc.Query().Get("error"); got != tt.wantError {
				t.Errorf("error = %q; want %q", got, tt.wantError)
			}
			if got := loc.Query().Get("state"); got != "st-123" {
				t.Errorf("state = %q; want st-123 echoed", got)
			}
		})
	}
}

func TestAuthorizeLoopbackAndWebRedirects(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	if err := f.AddWebClient("web-client", "web-secret", "https://app.example.com/callback?x=1"); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ client, redirect string }{
		{DefaultClientID, "http://127.0.0.1:1/"},
		{DefaultClientID, "http://127.0.0.1:65535/callback"},
		{DefaultClientID, "http://[::1]:8080/"},
		{DefaultClientID, "http://localhost:9000/"},
		{DefaultClientID, "http://localhost/"},
		{"web-client", "https://app.example.com/callback?x=1"},
	}
	for _, tt := range tests {
		q := authParams()
		q.Set("client_id", tt.client)
		q.Set("redirect_uri", tt.redirect)
		loc := consent(t, f, q, "allow", DefaultUser)
		if loc.Query().Get("code") == "" {
			t.Errorf("%s: redirect %q carries no code", tt.redirect, loc)
		}
		if tt.client == "web-client" && loc.Query().Get("x") != "1" {
			t.Errorf("%s: the registered query was dropped: %q", tt.redirect, loc)
		}
	}
}

func TestAuthorizationCodeGrantErrors(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	f.AddOAuthClient("other-client", "other-secret")
	newCode := func(t *testing.T, set map[string]string) string {
		q := authParams()
		for k, v := range set {
			if v == "" {
				q.Del(k)
			} else {
				q.Set(k, v)
			}
		}
		return consent(t, f, q, "allow", DefaultUser).Query().Get("code")
	}
	tests := []struct {
		name       string
		authSet    map[string]string
		form       func(code string) url.Values
		advance    time.Duration
		wantStatus int
		wantError  string
		wantDesc   string
	}{
		{"wrong verifier", nil, func(c string) url.Values { return codeForm(c, testRedirect, strings.Repeat("a", 43)) }, 0, 400, "invalid_grant", descBadVerifier},
		{"missing verifier", nil, func(c string) url.Values { return codeForm(c, testRedirect, "") }, 0, 400, "invalid_grant", descMissingVerifier},
		{"verifier not needed", map[string]string{"code_challenge": "", "code_challenge_method": ""}, func(c string) url.Values { return codeForm(c, testRedirect, testVerifier) }, 0, 400, "invalid_grant", descNoVerifier},
		{"plain challenge", map[string]string{"code_challenge": testVerifier, "code_challenge_method": "plain"}, func(c string) url.Values { return codeForm(c, testRedirect, testVerifier) }, 0, 200, "", ""},
		{"redirect mismatch", nil, func(c string) url.Values { return codeForm(c, "http://127.0.0.1:43211/", testVerifier) }, 0, 400, "redirect_uri_mismatch", "Bad Request"},
		{"missing redirect", nil, func(c string) url.Values { return codeForm(c, "", testVerifier) }, 0, 400, "invalid_request", ""},
		{"unknown code", nil, func(string) url.Values { return codeForm("4/0Anope", testRedirect, testVerifier) }, 0, 400, "invalid_grant", "Bad Request"},
		{"missing code", nil, func(string) url.Values { return codeForm("", testRedirect, testVerifier) }, 0, 400, "invalid_request", ""},
		{"expired code", nil, func(c string) url.Values { return codeForm(c, testRedirect, testVerifier) }, 11 * time.Minute, 400, "invalid_grant", "Bad Request"},
		{"wrong secret", nil, func(c string) url.Values {
			v := codeForm(c, testRedirect, testVerifier)
			v.Set("client_secret", "nope")
			return v
		}, 0, 401, "invalid_client", ""},
		{"code of another client", nil, func(c string) url.Values {
			v := codeForm(c, testRedirect, testVerifier)
			v.Set("client_id", "other-client")
			v.Set("client_secret", "other-secret")
			return v
		}, 0, 400, "invalid_grant", "Bad Request"},
	}
	for _, tt := range tests {
		// Not parallel: some advance the shared clock.
		t.Run(tt.name, func(t *testing.T) {
			code := newCode(t, tt.authSet)
			clock.Advance(tt.advance)
			r := postForm(t, f.URL+"/token", tt.form(code), nil)
			if tt.wantStatus == 200 {
				if r.status != 200 {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				return
			}
			wantOAuthError(t, r, tt.wantStatus, tt.wantError, tt.wantDesc)
		})
	}
	// A verifier cannot be guessed: the first attempt spends the code.
	code := newCode(t, nil)
	wantOAuthError(t, postForm(t, f.URL+"/token", codeForm(code, testRedirect, strings.Repeat("b", 43)), nil), 400, "invalid_grant", descBadVerifier)
	wantOAuthError(t, postForm(t, f.URL+"/token", codeForm(code, testRedirect, testVerifier), nil), 400, "invalid_grant", "Bad Request")
}

func codeForm(code, redirect, verifier string) url.Values {
	v := url.Values{"grant_type": {"authorization_code"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}
	for k, x := range map[string]string{"code": code, "redirect_uri": redirect, "code_verifier": verifier} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return v
}

// TestAuthorizeRefreshTokenRules: offline access gives a refresh token on
// first consent and with prompt=consent; online access never does.
func TestAuthorizeRefreshTokenRules(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	steps := []struct {
		name        string
		set         map[string]string
		wantRefresh bool
	}{
		{"online", map[string]string{"access_type": "online", "prompt": ""}, false},
		{"first offline consent", map[string]string{"prompt": ""}, true},
		{"offline again", map[string]string{"prompt": ""}, false},
		{"offline with prompt=consent", nil, true},
	}
	for _, st := range steps {
		q := authParams()
		for k, v := range st.set {
			if v == "" {
				q.Del(k)
			} else {
				q.Set(k, v)
			}
		}
		code := consent(t, f, q, "allow", DefaultUser).Query().Get("code")
		r := exchange(t, f, code, testRedirect, testVerifier)
		if r.status != 200 {
			t.Fatalf("%s: status %d: %s", st.name, r.status, r.body)
		}
		_, has := r.json(t)["refresh_token"]
		if has != st.wantRefresh {
			t.Errorf("%s: refresh_token present = %v; want %v", st.name, has, st.wantRefresh)
		}
	}
	// include_granted_scopes adds what was granted before.
	q := authParams()
	q.Set("scope", "https://www.googleapis.com/auth/devstorage.read_only")
	q.Set("include_granted_scopes", "true")
	loc := consent(t, f, q, "allow", DefaultUser)
	if got := loc.Query().Get("scope"); !strings.Contains(got, "cloud-platform") || !strings.Contains(got, "devstorage.read_only") {
		t.Errorf("incremental grant scope = %q; want the old and the new scopes", got)
	}
}

func TestClientSecretJSON(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	if err := f.AddWebClient("web-client", "web-secret", "https://app.example.com/cb"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ id, kind, secret string }{
		{DefaultClientID, "installed", DefaultClientSecret},
		{"web-client", "web", "web-secret"},
	} {
		data, err := f.ClientSecretJSON(tt.id)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]struct {
			ClientID     string   `json:"client_id"`
			ClientSecret string   `json:"client_secret"`
			AuthURI      string   `json:"auth_uri"`
			TokenURI     string   `json:"token_uri"`
			RedirectURIs []string `json:"redirect_uris"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		c, ok := m[tt.kind]
		if !ok || len(m) != 1 || c.ClientID != tt.id || c.ClientSecret != tt.secret || c.TokenURI != f.URL+"/token" || c.AuthURI != f.URL+"/o/oauth2/auth" {
			t.Errorf("ClientSecretJSON(%q) = %s; want one %q object pointing at the fake", tt.id, data, tt.kind)
		}
	}
	if _, err := f.ClientSecretJSON("nobody"); err == nil {
		t.Error("ClientSecretJSON of an unknown client: got nil error")
	}
	if err := f.AddWebClient("w2", "s"); err == nil {
		t.Error("AddWebClient without redirect URIs: got nil error")
	}
}

// TestAuthorizeIDTokenScopes: the exchange returns an ID token only for an
// identity scope, and its email only with the email scope.
func TestAuthorizeIDTokenScopes(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	tests := []struct {
		scope     string
		nonce     string
		wantID    bool
		wantEmail bool
	}{
		{"https://www.googleapis.com/auth/cloud-platform", "", false, false},
		{"openid", "n-0S6_WzA2Mj", true, false},
		{"email", "", true, true},
		{"profile https://www.googleapis.com/auth/cloud-platform", "", true, false},
	}
	for _, tt := range tests {
		q := authParams()
		q.Set("scope", tt.scope)
		if tt.nonce != "" {
			q.Set("nonce", tt.nonce)
		}
		code := consent(t, f, q, "allow", DefaultUser).Query().Get("code")
		r := exchange(t, f, code, testRedirect, testVerifier)
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", tt.scope, r.status, r.body)
		}
		idt, _ := r.json(t)["id_token"].(string)
		if (idt != "") != tt.wantID {
			t.Errorf("scope %q: id_token present = %v; want %v", tt.scope, idt != "", tt.wantID)
			continue
		}
		if idt != "" {
			_, claims := decodeJWT(t, idt)
			if _, has := claims["email"]; has != tt.wantEmail {
				t.Errorf("scope %q: email claim present = %v; want %v", tt.scope, has, tt.wantEmail)
			}
			// The request's nonce comes back in the ID token; absent when none was sent.
			if got, _ := claims["nonce"].(string); got != tt.nonce {
				t.Errorf("scope %q: nonce claim = %q; want %q", tt.scope, got, tt.nonce)
			}
		}
	}
}
