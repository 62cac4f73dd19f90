package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
)

// grantForm is the form an attacker wants posted: Token Creator for
// themselves on the default service account.
func grantForm(csrf string) url.Values {
	return url.Values{"csrf": {csrf}, "account": {fakegoogle.DefaultServiceAccount}, "op": {"grant"}, "member": {"attacker@evil.example"}}
}

func (tc *testConsole) attackerGranted() bool {
	p, _ := tc.fake.IAMPolicy(fakegoogle.DefaultServiceAccount)
	return slices.Contains(p.TokenCreators, "attacker@evil.example")
}

// TestSecurityConsoleRefusesRemoteClients: when the emulator listens on a
// non-loopback address (0.0.0.0 in a container), another machine on the
// network reaches its port; it must not reach the console, which edits
// IAM and shows tokens, whatever Host it sends. The fake itself still
// answers it.
func TestSecurityConsoleRefusesRemoteClients(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, 0)
	csrf := tc.csrfToken(t, browser(t))
	for _, remote := range []string{"192.0.2.7:40000", "[2001:db8::7]:40000", "[::ffff:192.0.2.7]:40000", "10.0.0.1:1", "garbage"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			req := httptest.NewRequest(method, DefaultPath+"identities/service-account", strings.NewReader(grantForm(csrf).Encode()))
			if method == http.MethodGet {
				req = httptest.NewRequest(method, DefaultPath+"tokens", nil)
			}
			req.RemoteAddr = remote
			req.Host = "127.0.0.1"
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			tc.Handler(tc.fake).ServeHTTP(rec, req)
			if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), "<html") {
				t.Errorf("%s from %s: got %d; want 403 without a page", method, remote, rec.Code)
			}
		}
	}
	if tc.attackerGranted() {
		t.Error("a remote client's form changed IAM")
	}
	req := httptest.NewRequest(http.MethodGet, "/oauth2/v3/certs", nil)
	req.RemoteAddr = "192.0.2.7:40000"
	rec := httptest.NewRecorder()
	tc.Handler(tc.fake).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("got %d from the fake for a remote client; want 200: only the console is loopback-only", rec.Code)
	}
	for _, remote := range []string{"127.0.0.1:1", "[::1]:1", "127.8.9.10:1"} {
		req := httptest.NewRequest(http.MethodGet, DefaultPath, nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		tc.Handler(tc.fake).ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("GET from %s: got %d; want 200", remote, rec.Code)
		}
	}
}

// TestSecurityConsoleRefusesCrossSiteRequests: a page on another site (or
// another port of localhost) posts a console form, to make itself a Token
// Creator, or fetches a page or the live rows; even holding a valid
// session and CSRF token, it must be refused, and the pages must refuse
// to be framed (clickjacking). Following a link to the console is a plain
// navigation and shows the page.
func TestSecurityConsoleRefusesCrossSiteRequests(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, 0)
	client := browser(t)
	csrf := tc.csrfToken(t, client)
	do := func(method, rel string, body url.Values, hdr ...string) *http.Response {
		req, _ := http.NewRequest(method, tc.url+DefaultPath+rel, strings.NewReader(body.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"},
		{"Sec-Fetch-Site", "same-site", "Origin", "http://localhost:9999"},
		{"Origin", "https://evil.example"},
		{"Origin", "null"},
	} {
		if resp := do(http.MethodPost, "identities/service-account", grantForm(csrf), hdr...); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST with %q: got %d; want 403", hdr, resp.StatusCode)
		}
		if resp := do(http.MethodGet, "rows?after=0", nil, append(hdr, "Sec-Fetch-Mode", "cors")...); resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site fetch of the rows with %q: got %d; want 403", hdr, resp.StatusCode)
		}
	}
	if tc.attackerGranted() {
		t.Fatal("a cross-site form changed IAM")
	}
	nav := do(http.MethodGet, "tokens", nil, "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document")
	if nav.StatusCode != http.StatusOK {
		t.Errorf("a link followed from another site: got %d; want the page", nav.StatusCode)
	}
	if xfo, csp := nav.Header.Get("X-Frame-Options"), nav.Header.Get("Content-Security-Policy"); xfo != "DENY" || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("got X-Frame-Options %q, CSP %q; want framing refused", xfo, csp)
	}
	if iframe := do(http.MethodGet, "tokens", nil, "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "iframe"); iframe.StatusCode != http.StatusForbidden {
		t.Errorf("a frame on another site: got %d; want 403", iframe.StatusCode)
	}
}

// TestSecurityConsoleRequiresCSRFToken: a browser that marks nothing
// (neither Sec-Fetch-Site nor Origin), or a same-site page, posts a
// console form; without the token of the session its cookie names it must
// be refused.
func TestSecurityConsoleRequiresCSRFToken(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, 0)
	client := browser(t)
	mine := tc.csrfToken(t, client)
	other := tc.csrfToken(t, browser(t))
	post := func(c *http.Client, form url.Values) int {
		req, _ := http.NewRequest(http.MethodPost, tc.url+DefaultPath+"identities/service-account", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	noCookie := &http.Client{CheckRedirect: client.CheckRedirect}
	for name, tt := range map[string]struct {
		client *http.Client
		csrf   string
	}{
		"no token":                {client, ""},
		"another session's token": {client, other},
		"a made-up token":         {client, strings.Repeat("A", len(mine))},
		"no session cookie":       {noCookie, mine},
	} {
		if status := post(tt.client, grantForm(tt.csrf)); status != http.StatusForbidden {
			t.Errorf("%s: got %d; want 403", name, status)
		}
	}
	if tc.attackerGranted() {
		t.Fatal("a form without its CSRF token changed IAM")
	}
	if status := post(client, grantForm(mine)); status != http.StatusSeeOther || !tc.attackerGranted() {
		t.Errorf("with the session's token: got %d; want the grant made", status)
	}
}

// TestSecurityConsoleNeverShowsSecrets: the console shows everything a
// program sent and got; a screenshot of it in a bug report, or anyone
// reading over a shoulder, must not get a usable token, refresh token,
// client secret, assertion or private key. Every page is searched for
// every secret that went over the wire.
func TestSecurityConsoleNeverShowsSecrets(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, 0)
	var mu sync.Mutex
	var raw []*fakegoogle.Exchange
	tc.fake.Observe(func(ex *fakegoogle.Exchange) {
		mu.Lock()
		raw = append(raw, ex)
		mu.Unlock()
		tc.record(ex)
	})
	makeTraffic(t, tc)
	tc.waitEntries(t, uint64(len(raw)))

	secrets := exchangeSecrets(t, raw)
	key, _ := tc.fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	var kf struct {
		PrivateKey string `json:"private_key"`
	}
	json.Unmarshal(key, &kf)
	secrets = append(secrets, strings.Split(kf.PrivateKey, "\n")[2], fakegoogle.DefaultClientSecret)
	if len(secrets) < 10 {
		t.Fatalf("found only %d secrets in the traffic; the test makes more", len(secrets))
	}
	client := browser(t)
	pages := []string{"", "identities", "tokens", "faults", "?outcome=accepted"}
	for id := uint64(1); id <= tc.timeline.newest(); id++ {
		pages = append(pages, "requests/"+strconv.FormatUint(id, 10))
	}
	for _, p := range pages {
		status, html := tc.page(t, client, p)
		if status != http.StatusOK {
			t.Errorf("GET %q: %d", p, status)
		}
		for _, s := range secrets {
			if strings.Contains(html, s) {
				t.Errorf("page %q shows the secret %.12s… (%d characters)", p, s, len(s))
			}
		}
	}
}

// makeTraffic makes requests that carry every kind of secret: a
// service-account assertion, access and ID tokens, a refresh token with a
// client secret, impersonation, tokeninfo with the token in the query, a
// federated exchange of an OIDC subject token, revocation.
func makeTraffic(t *testing.T, tc *testConsole) {
	t.Helper()
	sa := tc.serviceAccount(t, fakegoogle.DefaultServiceAccount)
	at := accessToken(t, sa, "https://www.googleapis.com/auth/cloud-platform")
	idSrc, _ := sa.IDTokenSource("https://svc.example", nil)
	if _, err := idSrc.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	imp, _ := credentials.Impersonate(sa, &credentials.ImpersonateOptions{Target: fakegoogle.DefaultTargetServiceAccount, IAMEndpoint: tc.fake.IAMCredentialsURL()})
	accessToken(t, imp, "https://www.googleapis.com/auth/cloud-platform")
	rt, _ := tc.fake.IssueRefreshToken(fakegoogle.DefaultClientID, fakegoogle.DefaultUser, []string{"openid", "email"})
	userJSON, _ := tc.fake.AuthorizedUserJSON(fakegoogle.DefaultClientID, rt)
	user, err := credentials.FromJSON(userJSON, &credentials.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	accessToken(t, user, "email")
	http.Get(tc.url + "/tokeninfo?access_token=" + url.QueryEscape(at))
	subject, _ := tc.fake.MintOIDCSubjectToken("workload", "", 3600e9)
	http.PostForm(tc.fake.STSURL(), url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "audience": {fakegoogle.DefaultOIDCAudience},
		"subject_token_type": {fakegoogle.SubjectTokenTypeJWT}, "subject_token": {subject},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "scope": {"https://www.googleapis.com/auth/cloud-platform"},
	})
	http.PostForm(tc.url+"/revoke", url.Values{"token": {rt}})
}

// jwtRE finds compact JWTs.
var jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)`)

// exchangeSecrets lists the secrets in raw exchanges: the values of secret
// fields, credentials in headers, tokens in answers, and every JWT's
// signature.
func exchangeSecrets(t *testing.T, raw []*fakegoogle.Exchange) []string {
	var out []string
	add := func(s string) {
		if len(s) >= 12 && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	tokenRE := regexp.MustCompile(`ya29\.[A-Za-z0-9._-]+|1//[A-Za-z0-9._-]+`)
	for _, ex := range raw {
		text := ex.RequestURI + "\n" + string(ex.Body) + "\n" + string(ex.ResponseBody) + "\n" + fmt.Sprint(ex.Header)
		if u, err := url.QueryUnescape(text); err == nil {
			text += "\n" + u
		}
		for _, m := range jwtRE.FindAllStringSubmatch(text, -1) {
			add(m[0])
			add(m[1])
		}
		for _, m := range tokenRE.FindAllString(text, -1) {
			add(strings.TrimRight(m, `",}\n`))
		}
		if form, err := url.ParseQuery(string(ex.Body)); err == nil {
			for _, k := range []string{"client_secret", "refresh_token", "assertion", "subject_token", "token"} {
				add(form.Get(k))
			}
		}
	}
	return out
}

// TestSecurityConsoleCannotShadowGoogle: the console shares the fake's
// address; its path must never capture a request meant for a Google
// endpoint (a client's token request answered by a console page), so a
// path that the fake models is refused, and every other request reaches
// the fake untouched.
func TestSecurityConsoleCannotShadowGoogle(t *testing.T) {
	t.Parallel()
	fake, err := fakegoogle.New(&fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/token/", "/latest/", "/fakeidp/", "/v1/projects/-/serviceAccounts/", "/oauth2/v3/certs/", "/", "token/", "/x"} {
		if c, err := New(&Options{Fake: fake, Path: p}); err == nil {
			c.Close()
			t.Errorf("New with Path %q succeeded; want a refusal", p)
		}
	}
	tc := newTestConsole(t, 0)
	h := tc.Handler(tc.fake)
	for _, p := range []string{
		"/token", "/o/oauth2/token", "/oauth2/v4/token", "/revoke", "/tokeninfo", "/oauth2/v3/certs", "/oauth2/v1/certs",
		"/.well-known/openid-configuration", "/v1/token", "/v1/projects/-/serviceAccounts/a@b.iam.gserviceaccount.com:generateAccessToken",
		"/latest/api/token", "/fakeidp/jwks", "/sample/get_range", "/_gcptoken/consoles", "/_gcptoken", "/_gcptoken/",
	} {
		before := tc.fake.RequestCount(p)
		req := httptest.NewRequest(http.MethodGet, p, nil)
		req.RemoteAddr = "127.0.0.1:1"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if tc.fake.RequestCount(p) != before+1 || rec.Header().Get("Content-Security-Policy") != "" {
			t.Errorf("GET %s did not reach the fake (status %d)", p, rec.Code)
		}
	}
}
