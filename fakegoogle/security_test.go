package fakegoogle

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// postNoFollow posts form to u with headers, reporting a redirect instead
// of following it.
func postNoFollow(t *testing.T, u string, form url.Values, h http.Header) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range h {
		req.Header[k] = v
	}
	return fetch(t, req)
}

// TestSecurityConsentForgedAllow: a page on another site, holding the id of
// a consent page the user has open (leaked through a log, a referrer or a
// screenshot), posts Allow to the fake's authorization endpoint from the
// user's browser, granting its client a code as the user. The decision
// must come from the consent page itself; the forged post must not use up
// the page either, so the user's own answer still works. An app sending
// the user to the authorization endpoint from its own site still works.
func TestSecurityConsentForgedAllow(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	page := authGet(t, f, "/o/oauth2/v2/auth", authParams())
	m := consentIDRE.FindSubmatch(page.body)
	if page.status != http.StatusOK || m == nil {
		t.Fatalf("consent page: got %d without a consent id:\n%s", page.status, page.body)
	}
	decision := url.Values{"consent": {string(m[1])}, "decision": {"allow"}, "account": {DefaultUser}}
	for name, h := range map[string]http.Header{
		"cross-site form post":        {"Origin": {"https://attacker.example"}, "Sec-Fetch-Site": {"cross-site"}},
		"another port of localhost":   {"Origin": {"http://localhost:3000"}, "Sec-Fetch-Site": {"same-site"}},
		"old browser, foreign Origin": {"Origin": {"https://attacker.example"}},
	} {
		r := postNoFollow(t, f.URL+"/o/oauth2/v2/auth", decision, h)
		if r.status != http.StatusForbidden || r.header.Get("Location") != "" || !strings.Contains(string(r.body), "another site") {
			t.Errorf("%s: got %d (Location %q) %s; want 403 naming another site, no redirect", name, r.status, r.header.Get("Location"), r.body)
		}
	}

	// The user's own answer, from the page's origin.
	r := postNoFollow(t, f.URL+"/o/oauth2/v2/auth", decision, http.Header{"Origin": {f.URL}, "Sec-Fetch-Site": {"same-origin"}})
	loc, _ := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusFound || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("same-origin Allow: got %d %q; want a redirect with a code", r.status, r.header.Get("Location"))
	}
	// An app's own page sending the user here is a cross-site navigation,
	// as at Google.
	nav := get(t, f.URL+"/o/oauth2/v2/auth?"+authParams().Encode(), http.Header{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"navigate"}})
	if nav.status != http.StatusOK || !consentIDRE.Match(nav.body) {
		t.Errorf("cross-site navigation to the consent page: got %d; want the page", nav.status)
	}
}

// TestSecurityFakeCrossSiteWrites: a page on another site posts forms to
// the fake's state-changing endpoints (token, revoke, STS) from the user's
// browser. No client library sends such a request; all are refused, and
// the fake's state is unchanged.
func TestSecurityFakeCrossSiteWrites(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	crossSite := http.Header{"Origin": {"https://attacker.example"}, "Sec-Fetch-Site": {"cross-site"}}
	rt, err := f.IssueRefreshToken(DefaultClientID, DefaultUser, []string{"openid"})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/token", "/revoke", "/o/oauth2/revoke", "/v1/token"} {
		r := postForm(t, f.URL+path, url.Values{"token": {rt}, "grant_type": {"refresh_token"}, "refresh_token": {rt},
			"client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}, crossSite)
		if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "another site") {
			t.Errorf("cross-site POST %s: got %d %s; want 403", path, r.status, r.body)
		}
	}
	// The refresh token was not revoked: a client library (no browser
	// headers) still uses it.
	r := postForm(t, f.URL+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}, nil)
	if r.status != http.StatusOK {
		t.Errorf("refresh after the refused revoke: got %d %s; want 200", r.status, r.body)
	}
}
