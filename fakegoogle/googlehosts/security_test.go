package googlehosts_test

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// TestSecurityConsentViaGoogleHosts: the fake's consent page served as
// https://accounts.google.com through the proxy. A page of another site
// posting Allow from the user's browser is refused; the page's own form,
// whose Origin is https://accounts.google.com and Host accounts.google.com
// (no port: the browser omits 443), still works.
func TestSecurityConsentViaGoogleHosts(t *testing.T) {
	f := newFront(t, false)
	sum := sha256.Sum256([]byte("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"))
	q := url.Values{
		"client_id": {fakegoogle.DefaultClientID}, "redirect_uri": {"http://127.0.0.1:43210/"}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {"st"}, "code_challenge_method": {"S256"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
	}
	const auth = "https://accounts.google.com/o/oauth2/v2/auth"
	res, err := f.client.Get(auth + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`name="consent" value="([^"]+)"`).FindSubmatch(page)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("consent page through the proxy: got %d without a consent id:\n%s", res.StatusCode, page)
	}
	noFollow := *f.client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	decide := func(origin, site string) (int, string) {
		t.Helper()
		form := url.Values{"consent": {string(m[1])}, "decision": {"allow"}, "account": {fakegoogle.DefaultUser}}
		req, _ := http.NewRequest(http.MethodPost, auth, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", site)
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Location")
	}
	if code, loc := decide("https://attacker.example", "cross-site"); code != http.StatusForbidden || loc != "" {
		t.Errorf("forged Allow through the proxy: got %d (Location %q); want 403", code, loc)
	}
	if code, loc := decide("https://accounts.google.com", "same-origin"); code != http.StatusFound || !strings.Contains(loc, "code=") {
		t.Errorf("the consent page's own Allow: got %d (Location %q); want a redirect with a code", code, loc)
	}
}

// TestRebindingGetsNoService is not a TestSecurity test, as the proxy was
// never open to it: a DNS-rebound page can only send origin-form requests,
// which the proxy answers with advice and never forwards (CONNECT and
// absolute-form requests, which it does serve, name their host, and a
// page cannot send them). This keeps it so.
func TestRebindingGetsNoService(t *testing.T) {
	f := newFront(t, true)
	addr := f.srv.Listener.Addr().String()
	for _, path := range []string{"/token", "/computeMetadata/v1/instance/service-accounts/default/token", "/"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		req.Host = "attacker.example"
		req.Header.Set("Metadata-Flavor", "Google")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode/100 == 2 || strings.Contains(string(body), "fake-project") {
			t.Errorf("GET %s with a rebound Host: got %d %q; want a refusal", path, res.StatusCode, body)
		}
	}
	if len(f.mdsHit) != 0 || f.fake.RequestCount("/token") != 0 {
		t.Errorf("rebound requests reached the metadata handler (%q) or the fake", f.mdsHit)
	}
}
