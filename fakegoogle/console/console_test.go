package console

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
)

// findEntry returns the newest kept entry that match accepts.
func (tc *testConsole) findEntry(t *testing.T, what string, match func(*entry) bool) *entry {
	t.Helper()
	found, _ := tc.timeline.list(0, match, 1)
	if len(found) == 0 {
		t.Fatalf("the timeline has no entry for %s", what)
	}
	return found[0]
}

// TestTimeline checks that the requests page lists each exchange with its
// summary, that a request's page explains it, and the filter.
func TestTimeline(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, 0)
	sa := tc.serviceAccount(t, fakegoogle.DefaultServiceAccount)
	accessToken(t, sa, "https://www.googleapis.com/auth/cloud-platform")
	imp, err := credentials.Impersonate(sa, &credentials.ImpersonateOptions{
		Target: fakegoogle.DefaultTargetServiceAccount, IAMEndpoint: tc.fake.IAMCredentialsURL()})
	if err != nil {
		t.Fatal(err)
	}
	accessToken(t, imp, "https://www.googleapis.com/auth/cloud-platform")
	http.PostForm(tc.url+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"1//fake-nothing"},
		"client_id": {fakegoogle.DefaultClientID}, "client_secret": {"wrong"}})
	tc.waitEntries(t, 4)

	client := browser(t)
	status, html := tc.page(t, client, "")
	for _, want := range []string{"jwt-bearer", fakegoogle.DefaultServiceAccount, "generateAccessToken",
		"as " + fakegoogle.DefaultTargetServiceAccount, "invalid_client", "Unauthorized", "refused", "accepted"} {
		if status != http.StatusOK || !strings.Contains(html, want) {
			t.Errorf("the requests page (status %d) lacks %q", status, want)
		}
	}
	bearer := tc.findEntry(t, "the jwt-bearer grant", func(e *entry) bool { return e.Grant == "jwt-bearer" })
	_, detail := tc.page(t, client, "requests/"+strconv.FormatUint(bearer.ID, 10))
	for _, want := range []string{
		"Accepted: HTTP 200", "service-account assertion (jwt-bearer grant)",
		"Signature verified: signed by service account " + fakegoogle.DefaultServiceAccount,
		"Not expired at the request", `&#34;iss&#34;: &#34;` + fakegoogle.DefaultServiceAccount, "an access token ya29.c.…[secret:",
	} {
		if !strings.Contains(detail, want) {
			t.Errorf("the jwt-bearer request's page lacks %q", want)
		}
	}
	iam := tc.findEntry(t, "generateAccessToken", func(e *entry) bool { return e.Grant == "generateAccessToken" })
	if iam.Principal != fakegoogle.DefaultServiceAccount || iam.Endpoint != "IAM Credentials" {
		t.Errorf("got IAM call by %q at %q; want the caller %s at IAM Credentials", iam.Principal, iam.Endpoint, fakegoogle.DefaultServiceAccount)
	}

	_, refused := tc.page(t, client, "?outcome=refused")
	if !strings.Contains(refused, "invalid_client") || strings.Contains(refused, "jwt-bearer") {
		t.Error("the refused filter does not show just the refused request")
	}
	_, byText := tc.page(t, client, "?q=generateAccessToken")
	if !strings.Contains(byText, "generateAccessToken") || strings.Contains(byText, "invalid_client") {
		t.Error("the text filter does not show just the matching request")
	}
}

// TestRefusalExplained checks that a refused assertion's page says what
// Google said and why: here, a fake clock three hours ahead of the
// client's, so the assertion has expired by the fake's clock.
func TestRefusalExplained(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, 0)
	tc.fake.SetClockSkew(3 * time.Hour)
	src, _ := tc.serviceAccount(t, fakegoogle.DefaultServiceAccount).AccessTokenSource([]string{"https://www.googleapis.com/auth/cloud-platform"})
	if _, err := src.Token(context.Background()); err == nil {
		t.Fatal("an assertion three hours old was accepted")
	}
	tc.waitEntries(t, 1)
	e := tc.findEntry(t, "the refused grant", func(e *entry) bool { return e.Grant == "jwt-bearer" })
	_, detail := tc.page(t, browser(t), "requests/"+strconv.FormatUint(e.ID, 10))
	for _, want := range []string{"Refused: HTTP 400", "invalid_grant", "Invalid JWT: Token must be a short-lived token",
		"Fail:</span> Expired 2 hours before the request"} {
		if !strings.Contains(detail, want) {
			t.Errorf("the refused request's page lacks %q", want)
		}
	}
}

// TestLiveRows checks the live updates: a poll waits for the next request
// and answers with its row, and Close ends a waiting poll.
func TestLiveRows(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, 0)
	client := browser(t)
	type answer struct {
		status int
		body   string
		took   time.Duration
	}
	poll := func() <-chan answer {
		done := make(chan answer, 1)
		start := time.Now()
		go func() {
			status, body := tc.page(t, client, "rows?after="+strconv.FormatUint(tc.timeline.newest(), 10))
			done <- answer{status, body, time.Since(start)}
		}()
		return done
	}
	done := poll()
	time.Sleep(50 * time.Millisecond) // the poll is waiting
	http.Get(tc.url + "/oauth2/v3/certs")
	select {
	case a := <-done:
		if a.status != http.StatusOK || !strings.Contains(a.body, "/oauth2/v3/certs") || a.took > time.Second {
			t.Errorf("got %d after %v: %q; want the new row within a second", a.status, a.took, a.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the live poll did not answer a new request")
	}
	done = poll()
	time.Sleep(50 * time.Millisecond)
	tc.Close()
	select {
	case a := <-done:
		if a.status != http.StatusNoContent {
			t.Errorf("got %d from a poll ended by Close; want 204", a.status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting poll")
	}
}

// TestTimelineIsBounded checks that the timeline keeps only the last
// Capacity exchanges.
func TestTimelineIsBounded(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, 3)
	for range 5 {
		http.Get(tc.url + "/oauth2/v3/certs")
	}
	tc.waitEntries(t, 5)
	if _, kept := tc.timeline.list(0, func(*entry) bool { return true }, 100); kept != 3 {
		t.Errorf("kept %d entries; want 3", kept)
	}
	client := browser(t)
	if status, _ := tc.page(t, client, "requests/1"); status != http.StatusNotFound {
		t.Errorf("got %d for the dropped request #1; want 404", status)
	}
	if status, _ := tc.page(t, client, "requests/5"); status != http.StatusOK {
		t.Errorf("got %d for request #5; want 200", status)
	}
}

// TestIdentityForms checks each identity and IAM form against the fake's
// state, and that each change is saved.
func TestIdentityForms(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, 0)
	client := browser(t)
	sa := fakegoogle.DefaultServiceAccount
	policy := func() fakegoogle.IAMPolicy { p, _ := tc.fake.IAMPolicy(sa); return p }
	has := func(list []string, v string) bool {
		return strings.Contains(" "+strings.Join(list, " ")+" ", " "+v+" ")
	}
	tests := []struct {
		name, action string
		form         url.Values
		check        func() bool
	}{
		{"grant", "service-account", url.Values{"account": {sa}, "op": {"grant"}, "member": {"someone@example.com"}},
			func() bool { return has(policy().TokenCreators, "someone@example.com") }},
		{"revoke", "service-account", url.Values{"account": {sa}, "op": {"revoke"}, "member": {"someone@example.com"}},
			func() bool { return !has(policy().TokenCreators, "someone@example.com") }},
		{"grant a pool", "service-account", url.Values{"account": {sa}, "op": {"grant"}, "member": {fakegoogle.DefaultWorkloadPoolMember}},
			func() bool { return has(policy().TokenCreators, fakegoogle.DefaultWorkloadPoolMember) }},
		{"extend", "service-account", url.Values{"account": {sa}, "op": {"extend"}}, func() bool { return policy().LifetimeExtension }},
		{"unextend", "service-account", url.Values{"account": {sa}, "op": {"unextend"}}, func() bool { return !policy().LifetimeExtension }},
		{"delegate", "service-account", url.Values{"account": {sa}, "op": {"delegate"}, "scopes": {"email, https://www.googleapis.com/auth/cloud-platform"}},
			func() bool { return len(policy().DomainWideDelegation) == 2 }},
		{"disable", "service-account", url.Values{"account": {sa}, "op": {"disable"}},
			func() bool { a, _ := tc.fake.ServiceAccount(sa); return a.Disabled }},
		{"enable", "service-account", url.Values{"account": {sa}, "op": {"enable"}},
			func() bool { a, _ := tc.fake.ServiceAccount(sa); return !a.Disabled }},
		{"add account", "add-service-account", url.Values{"email": {"new@p.iam.gserviceaccount.com"}},
			func() bool { _, ok := tc.fake.ServiceAccount("new@p.iam.gserviceaccount.com"); return ok }},
		{"add user", "add-user", url.Values{"email": {"ann@example.com"}},
			func() bool { return len(tc.fake.Users()) == 2 }},
		{"add provider", "add-provider", url.Values{"pool": {"ci"}, "provider": {"github"}, "type": {"oidc"}, "project_number": {"123"}},
			func() bool { return len(tc.fake.IdentityProviders()) == 4 }},
		{"disable provider", "provider", url.Values{"audience": {fakegoogle.DefaultOIDCAudience}, "op": {"disable"}},
			func() bool { return providerDisabled(tc.fake, fakegoogle.DefaultOIDCAudience) }},
	}
	for i, tt := range tests {
		status, html := tc.post(t, client, "identities/"+tt.action, tt.form)
		if status != http.StatusSeeOther || !strings.HasPrefix(flashOf(html), "Done:") {
			t.Errorf("%s: got %d, %q; want a redirect to the outcome", tt.name, status, flashOf(html))
		}
		if !tt.check() {
			t.Errorf("%s: the fake's state did not change", tt.name)
		}
		if got := tc.saves.Load(); got != int32(i+1) {
			t.Errorf("%s: the state was saved %d times; want %d", tt.name, got, i+1)
		}
	}
	_, html := tc.post(t, client, "identities/service-account", url.Values{"account": {sa}, "op": {"grant"}, "member": {"not an email"}})
	if got := flashOf(html); !strings.HasPrefix(got, "Not done:") || !strings.Contains(got, "not an email address") {
		t.Errorf("got %q for a bad member; want the fake's refusal", got)
	}
}

func providerDisabled(fake *fakegoogle.Server, audience string) bool {
	for _, p := range fake.IdentityProviders() {
		if p.Audience() == audience {
			return p.Disabled
		}
	}
	return false
}

// TestTokensPage checks the issued tokens, revocation by the page's id (no
// token in the form), minting and the decoder.
func TestTokensPage(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, 0)
	client := browser(t)
	tok := accessToken(t, tc.serviceAccount(t, fakegoogle.DefaultServiceAccount), "https://www.googleapis.com/auth/cloud-platform")
	_, html := tc.page(t, client, "tokens")
	if !strings.Contains(html, maskSecret(tok)) || strings.Contains(html, tok) {
		t.Fatal("the tokens page does not list the access token masked")
	}
	if status, html := tc.post(t, client, "tokens/revoke", url.Values{"id": {tokenID(tok)}}); status != http.StatusSeeOther || !strings.HasPrefix(flashOf(html), "Done: Revoked") {
		t.Errorf("revoke: got %d, %q", status, flashOf(html))
	}
	if _, ok := tc.fake.LookupToken(tok); ok {
		t.Error("the revoked token is still honoured")
	}
	if _, html := tc.post(t, client, "tokens/revoke", url.Values{"id": {tokenID(tok)}}); !strings.HasPrefix(flashOf(html), "Not done:") {
		t.Errorf("got %q revoking it again; want a refusal", flashOf(html))
	}

	status, html := tc.post(t, client, "tokens/mint", url.Values{"account": {fakegoogle.DefaultServiceAccount}, "audience": {tc.fake.SampleServiceURL()}})
	minted := textareaRE.FindStringSubmatch(html)
	if status != http.StatusOK || minted == nil {
		t.Fatalf("mint: got %d without a token", status)
	}
	req, _ := http.NewRequest(http.MethodGet, tc.fake.SampleServiceURL()+"?start=1&end=2", nil)
	req.Header.Set("Authorization", "Bearer "+minted[1])
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the sample service refused the minted ID token: %v %v", resp, err)
	}

	live := accessToken(t, tc.serviceAccount(t, fakegoogle.DefaultServiceAccount), "email")
	for _, tt := range []struct{ name, token, want string }{
		{"access token", live, "Issued by this fake"},
		{"ID token", minted[1], "Signature verified: signed by Google&#39;s ID-token signing keys"},
		{"unknown", "not-a-token", "Not a JWT, and not a token this fake issued"},
	} {
		status, html := tc.post(t, client, "tokens/decode", url.Values{"token": {tt.token}})
		if status != http.StatusOK || !strings.Contains(html, tt.want) {
			t.Errorf("decode %s: got %d without %q", tt.name, status, tt.want)
		}
		if len(tt.token) > 20 && strings.Contains(html, tt.token) {
			t.Errorf("decode %s: the page shows the pasted token", tt.name)
		}
	}
}

var textareaRE = regexp.MustCompile(`<textarea id="minted"[^>]*>([^<]+)</textarea>`)

// TestFaultForms checks adding, removing and clearing fault rules and
// setting the clock skew, and that an injected fault shows in the
// timeline.
func TestFaultForms(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, 0)
	client := browser(t)
	if _, html := tc.post(t, client, "faults/add", url.Values{"spec": {"/oauth2/v3/certs:status=503,times=1"}}); !strings.HasPrefix(flashOf(html), "Done:") {
		t.Fatalf("add: got %q", flashOf(html))
	}
	resp, err := http.Get(tc.url + "/oauth2/v3/certs")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("got %v %v; want the injected 503", resp, err)
	}
	tc.waitEntries(t, 1)
	if e := tc.findEntry(t, "the faulted request", func(*entry) bool { return true }); e.Fault != "status" {
		t.Errorf("got fault %q on the timeline; want status", e.Fault)
	}
	if _, html := tc.post(t, client, "faults/add", url.Values{"spec": {"/token:colour=red"}}); !strings.Contains(flashOf(html), `unknown key "colour"`) {
		t.Errorf("got %q for a bad rule; want ParseFault's error", flashOf(html))
	}
	if _, html := tc.post(t, client, "faults/remove", url.Values{"index": {"0"}, "spec": {"/other:hang"}}); !strings.Contains(flashOf(html), "changed since") {
		t.Errorf("got %q removing a rule the page did not show; want a refusal", flashOf(html))
	}
	spec := tc.fake.Faults()[0].String()
	tc.post(t, client, "faults/remove", url.Values{"index": {"0"}, "spec": {spec}})
	if n := len(tc.fake.Faults()); n != 0 {
		t.Errorf("%d rules left after removing the only one", n)
	}
	tc.post(t, client, "faults/add", url.Values{"spec": {"/a:hang"}})
	tc.post(t, client, "faults/add", url.Values{"spec": {"/b:reset"}})
	tc.post(t, client, "faults/clear", url.Values{})
	if n := len(tc.fake.Faults()); n != 0 {
		t.Errorf("%d rules left after clearing", n)
	}
	tc.post(t, client, "faults/clock", url.Values{"skew": {"-10m"}})
	if got := tc.fake.ClockSkew(); got != -10*time.Minute {
		t.Errorf("got skew %v; want -10m", got)
	}
	if _, html := tc.post(t, client, "faults/clock", url.Values{"skew": {"soon"}}); !strings.HasPrefix(flashOf(html), "Not done:") {
		t.Errorf("got %q for a bad skew", flashOf(html))
	}
}

// TestPagesWithoutJavaScript checks that every page renders, and that the
// requests page works without its script: a plain reload shows new
// requests.
func TestPagesWithoutJavaScript(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, 0)
	client := browser(t)
	for _, p := range []string{"", "identities", "tokens", "faults", "static/console.css", "static/console.js"} {
		if status, body := tc.page(t, client, p); status != http.StatusOK || len(body) < 100 {
			t.Errorf("GET %q: got %d with %d bytes", p, status, len(body))
		}
	}
	resp, err := http.Get(tc.url + strings.TrimSuffix(DefaultPath, "/"))
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err != nil || resp.Request.URL.Path != DefaultPath {
		t.Errorf("the bare console path did not redirect to %s: %v", DefaultPath, err)
	}
	http.Get(tc.url + "/.well-known/openid-configuration")
	tc.waitEntries(t, 1)
	if _, html := tc.page(t, client, ""); !strings.Contains(html, "/.well-known/openid-configuration") {
		t.Error("a reload of the requests page does not show the new request")
	}
}

// TestRecordNeverWaits checks that the fake's request goroutine never
// waits for the console: when the queue is full, the exchange is counted
// as dropped, and the requests page says so.
func TestRecordNeverWaits(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t, 0)
	tc.Close() // no worker: the queue fills
	tc.queue = make(chan *fakegoogle.Exchange, 1)
	done := make(chan struct{})
	go func() {
		tc.record(&fakegoogle.Exchange{})
		tc.record(&fakegoogle.Exchange{})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("record waited for a full queue")
	}
	if got := tc.dropped.Load(); got != 1 {
		t.Errorf("dropped %d exchanges; want 1", got)
	}
	if _, html := tc.page(t, browser(t), ""); !strings.Contains(html, "1 requests came faster than the console could record them") {
		t.Error("the requests page does not say requests are missing")
	}
}
