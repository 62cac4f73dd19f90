package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/fakegoogle/console"
)

// consoleRun is a `gcptoken emulator` under test with a browser tab on
// its console.
type consoleRun struct {
	t         *testing.T
	base      string // the fake's URL
	console   string // the console's URL
	stateDir  string
	tab       context.Context
	artifacts string
	http      *http.Client
}

// TestConsoleInBrowser drives the emulator's console in headless Chromium:
// each page renders and is screenshotted; a request made by a program
// appears on the timeline within a second; revoking and granting Token
// Creator there changes what IAM answers; a revoke there is honoured; a
// form posted from another site is refused. The emulator is the command,
// so that its printed console URL is checked too.
func TestConsoleInBrowser(t *testing.T) {
	requireChromium(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	base, stop := startEmulator(t, stateDir)
	browser := newChromium(t)
	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	tab, cancelTimeout := context.WithTimeout(tab, 120*time.Second)
	defer cancelTimeout()
	r := &consoleRun{t: t, base: base, console: base + console.DefaultPath, stateDir: stateDir, tab: tab,
		artifacts: artifactsDir(t), http: &http.Client{Timeout: 10 * time.Second}}

	r.someTraffic()
	r.timeline()
	r.requestPage()
	r.identities()
	r.tokens()
	r.faults()
	r.crossSiteForm()

	if out := stop(); !strings.Contains(out, "  console:              "+r.console+" ") {
		t.Errorf("gcptoken emulator did not print the console's URL %s:\n%s", r.console, out)
	}
}

// run runs browser steps, failing the test with what was being done.
func (r *consoleRun) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	r.t.Helper()
	if err := chromedp.Do(r.tab, steps...); err != nil {
		r.t.Fatalf("%s: %v", what, err)
	}
}

// submit runs steps that submit a form and waits for the page it leads to;
// it returns that page's HTTP status.
func (r *consoleRun) submit(what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	r.t.Helper()
	resp, err := chromedp.RunResponse(r.tab, steps...)
	if err != nil {
		r.t.Fatalf("%s: %v", what, err)
	}
	return resp.Status
}

// text is the page's visible text.
func (r *consoleRun) text() string {
	r.t.Helper()
	s, err := chromedp.Run(r.tab, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		r.t.Fatalf("page text: %v", err)
	}
	return s
}

func (r *consoleRun) screenshot(name string) {
	r.t.Helper()
	shot, err := chromedp.Run(r.tab, chromedp.FullScreenshot(100))
	if err != nil {
		r.t.Fatalf("screenshot %s: %v", name, err)
	}
	saveScreenshot(r.t, r.artifacts, name, shot)
}

// credentials loads one of the emulator's credential files.
func (r *consoleRun) credentials(name string) *credentials.Credentials {
	r.t.Helper()
	c, err := credentials.FromFile(filepath.Join(r.stateDir, name), &credentials.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

func (r *consoleRun) token(c *credentials.Credentials, scopes ...string) (string, error) {
	src, err := c.AccessTokenSource(scopes)
	if err != nil {
		return "", err
	}
	tok, err := src.Token(context.Background())
	if err != nil {
		return "", err
	}
	return tok.Value, nil
}

// impersonate asks IAM for a token of the default target as the default
// service account.
func (r *consoleRun) impersonate() error {
	imp, err := credentials.Impersonate(r.credentials("service-account.json"), &credentials.ImpersonateOptions{
		Target: fakegoogle.DefaultTargetServiceAccount, IAMEndpoint: r.base})
	if err != nil {
		return err
	}
	_, err = r.token(imp, "https://www.googleapis.com/auth/cloud-platform")
	return err
}

// someTraffic is what a program does before the console is opened:
// tokens of the service account and the user, impersonation, and a
// refresh with a wrong client secret.
func (r *consoleRun) someTraffic() {
	sa := r.credentials("service-account.json")
	if _, err := r.token(sa, "https://www.googleapis.com/auth/cloud-platform"); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.token(r.credentials("authorized-user.json")); err != nil {
		r.t.Fatal(err)
	}
	if err := r.impersonate(); err != nil {
		r.t.Fatal(err)
	}
	resp, err := r.http.PostForm(r.base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"1//fake-forgotten"},
		"client_id": {fakegoogle.DefaultClientID}, "client_secret": {"not-the-secret"}})
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
}

// timeline opens the requests page, checks keyboard access starts at the
// skip link, then makes a request and waits for its row.
func (r *consoleRun) timeline() {
	r.run("open the requests page", chromedp.Navigate(r.console), chromedp.WaitVisible(chromedp.ID("timeline")),
		chromedp.KeyEvent("\t"))
	if focused, _ := chromedp.Run(r.tab, chromedp.Evaluate[string](`document.activeElement.textContent`)); focused != "Skip to content" {
		r.t.Errorf("the first Tab stop is %q; want the skip link", focused)
	}
	r.run("leave the skip link", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	text := r.text()
	for _, want := range []string{"Requests", "jwt-bearer", fakegoogle.DefaultServiceAccount, "generateAccessToken", "invalid_client"} {
		if !strings.Contains(text, want) {
			r.t.Errorf("the requests page lacks %q", want)
		}
	}
	time.Sleep(200 * time.Millisecond) // the page's live update is waiting
	req, _ := http.NewRequest(http.MethodGet, r.base+"/oauth2/v3/certs", nil)
	req.Header.Set("User-Agent", "console-browser-test/1.0")
	start := time.Now()
	resp, err := r.http.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	_, err = chromedp.Run(r.tab, chromedp.Poll[bool](`document.querySelector("#timeline tbody").innerText.includes("console-browser-test/1.0")`,
		chromedp.WithPollingTimeout(3*time.Second), chromedp.WithPollingInterval(20*time.Millisecond)))
	took := time.Since(start)
	switch {
	case err != nil:
		r.t.Errorf("the request did not appear on the timeline: %v", err)
	case took > time.Second:
		r.t.Errorf("the request appeared on the timeline after %v; want within a second", took)
	}
	r.t.Logf("the request appeared on the timeline %v after it was made", took)
	r.screenshot("console-requests.png")
}

// requestPage opens the service account's token request.
func (r *consoleRun) requestPage() {
	href, err := chromedp.Run(r.tab, chromedp.Evaluate[string](
		`[...document.querySelectorAll("#timeline tbody tr")].find(tr => tr.innerText.includes("jwt-bearer")).querySelector("a").href`))
	if err != nil {
		r.t.Fatalf("find the jwt-bearer request: %v", err)
	}
	r.run("open the request", chromedp.Navigate(href), chromedp.WaitVisible(chromedp.ID("verdict")))
	text := r.text()
	for _, want := range []string{"Accepted: HTTP 200", "Signature verified: signed by service account " + fakegoogle.DefaultServiceAccount,
		"Not expired at the request", "service-account assertion (jwt-bearer grant)", "[secret:"} {
		if !strings.Contains(text, want) {
			r.t.Errorf("the request's page lacks %q", want)
		}
	}
	r.screenshot("console-request.png")
}

// identities revokes the default service account's Token Creator role on
// the default target with a click, checks IAM refuses it, grants it back
// with the keyboard, and checks IAM allows it again.
func (r *consoleRun) identities() {
	r.run("open the identities page", chromedp.Navigate(r.console+"identities"), chromedp.WaitVisible(chromedp.ID("sas")))
	revoke := chromedp.CSS(fmt.Sprintf(`button[aria-label="Revoke %s's Token Creator role on %s"]`,
		fakegoogle.DefaultServiceAccount, fakegoogle.DefaultTargetServiceAccount))
	if status := r.submit("revoke the grant", chromedp.Click(revoke)); status != http.StatusOK {
		r.t.Fatalf("revoke: page status %d", status)
	}
	if text := r.text(); !strings.Contains(text, "Done: Revoked") {
		r.t.Errorf("the page does not say the grant was revoked")
	}
	if err := r.impersonate(); err == nil || !strings.Contains(err.Error(), "403") {
		r.t.Errorf("impersonation after the revoke in the console: %v; want 403", err)
	}
	member := chromedp.Search(fmt.Sprintf(`//article[h3[starts-with(normalize-space(.), %q)]]//input[starts-with(@id, "grant-")]`, fakegoogle.DefaultTargetServiceAccount))
	r.submit("grant with the keyboard", chromedp.Focus(member), chromedp.KeyEvent(fakegoogle.DefaultServiceAccount), chromedp.KeyEvent("\r"))
	if err := r.impersonate(); err != nil {
		r.t.Errorf("impersonation after the grant in the console: %v", err)
	}
	text := r.text()
	for _, want := range []string{"Done: Granted", "Identities and IAM", "Token Creators", "Domain-wide delegation", "Workload and workforce identity pools"} {
		if !strings.Contains(text, want) {
			r.t.Errorf("the identities page lacks %q", want)
		}
	}
	r.screenshot("console-identities.png")
}

// tokens revokes a token on the tokens page and checks tokeninfo no
// longer knows it, then mints an ID token the sample service accepts, and
// decodes it.
func (r *consoleRun) tokens() {
	tok, err := r.token(r.credentials("service-account.json"), "https://www.googleapis.com/auth/cloud-platform")
	if err != nil {
		r.t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(tok))
	fp := hex.EncodeToString(sum[:4])
	r.run("open the tokens page", chromedp.Navigate(r.console+"tokens"), chromedp.WaitVisible(chromedp.ID("access")))
	r.submit("revoke the token", chromedp.Click(chromedp.Search(fmt.Sprintf(`//tr[td[contains(., %q)]]//button`, fp))))
	if status := r.get(r.base+"/tokeninfo?access_token="+url.QueryEscape(tok), ""); status != http.StatusBadRequest {
		r.t.Errorf("tokeninfo answered %d for the token revoked in the console; want 400", status)
	}
	if strings.Contains(r.text(), tok) {
		r.t.Error("the tokens page shows a whole token")
	}
	r.submit("mint an ID token", chromedp.Click(chromedp.CSS(`form[action$="tokens/mint"] button`)))
	minted, err := chromedp.Run(r.tab, chromedp.Value(chromedp.ID("minted")))
	if err != nil {
		r.t.Fatalf("the minted token: %v", err)
	}
	if status := r.get(r.base+"/sample/get_range?start=1&end=3", minted); status != http.StatusOK {
		r.t.Errorf("the sample service answered %d to the ID token minted in the console; want 200", status)
	}
	r.screenshot("console-tokens.png")
	r.submit("decode the token", chromedp.SetValue(chromedp.ID("paste"), minted), chromedp.Click(chromedp.CSS(`form[action$="tokens/decode"] button`)))
	if text := r.text(); !strings.Contains(text, "Signature verified: signed by Google's ID-token signing keys") {
		r.t.Error("the decoder does not say who signed the minted token")
	}
	r.screenshot("console-decoder.png")
}

// get fetches u (with a bearer token when not "") and returns the status.
func (r *consoleRun) get(u, bearer string) int {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// faults adds a fault rule with the keyboard and sets the clock skew, and
// checks the fake obeys both.
func (r *consoleRun) faults() {
	r.run("open the faults page", chromedp.Navigate(r.console+"faults"), chromedp.WaitVisible(chromedp.ID("spec")))
	r.submit("add a rule", chromedp.Focus(chromedp.ID("spec")), chromedp.KeyEvent("/oauth2/v3/certs:status=503,times=1"), chromedp.KeyEvent("\r"))
	if status := r.get(r.base+"/oauth2/v3/certs", ""); status != http.StatusServiceUnavailable {
		r.t.Errorf("got %d from the certs after adding a 503 rule in the console", status)
	}
	r.submit("set the skew", chromedp.SetValue(chromedp.ID("skew"), "5m"), chromedp.Click(chromedp.CSS(`form[action$="faults/clock"] button`)))
	text := r.text()
	for _, want := range []string{"/oauth2/v3/certs:times=1,status=503", "Failures injected so far: 1", "5m0s (ahead of"} {
		if !strings.Contains(text, want) {
			r.t.Errorf("the faults page lacks %q", want)
		}
	}
	r.screenshot("console-faults.png")
}

// crossSiteForm loads a page of another site (localhost is not the
// console's 127.0.0.1) whose form posts a Token Creator grant to the
// console, submits it, and checks the console refused it.
func (r *consoleRun) crossSiteForm() {
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<!doctype html><title>Free tokens</title><form method="post" action="%sidentities/service-account">
<input type="hidden" name="csrf" value="guessed"><input type="hidden" name="account" value="%s">
<input type="hidden" name="op" value="grant"><input type="hidden" name="member" value="attacker@evil.example">
<button id="go">Claim</button></form>`, r.console, fakegoogle.DefaultServiceAccount)
	}))
	defer evil.Close()
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
	r.run("open the other site's page", chromedp.Navigate(evilURL), chromedp.WaitVisible(chromedp.ID("go")))
	if status := r.submit("post the other site's form", chromedp.Click(chromedp.ID("go"))); status != http.StatusForbidden {
		r.t.Errorf("the console answered %d to a form from another site; want 403", status)
	}
	if text := r.text(); !strings.Contains(text, "a web page on another site sent this request") {
		r.t.Errorf("the refusal does not say why: %q", text)
	}
	r.screenshot("console-cross-site-refused.png")
	jar, _ := cookiejar.New(nil)
	page, err := (&http.Client{Jar: jar}).Get(r.console + "identities")
	if err != nil {
		r.t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if strings.Contains(string(body), "attacker@evil.example") {
		r.t.Error("the other site's form granted Token Creator")
	}
}
