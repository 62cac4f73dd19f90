package console

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
)

// testConsole is a fake with its console, served together on loopback as
// the emulator serves them.
type testConsole struct {
	*Console
	fake  *fakegoogle.Server
	url   string // the server's base URL
	saves atomic.Int32
}

func newTestConsole(t *testing.T, capacity int) *testConsole {
	t.Helper()
	fake, err := fakegoogle.New(&fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	tc := &testConsole{fake: fake}
	c, err := New(&Options{Fake: fake, Capacity: capacity, SaveState: func() error { tc.saves.Add(1); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	tc.Console = c
	ts := httptest.NewServer(c.Handler(fake))
	t.Cleanup(func() { c.Close(); ts.Close() })
	fake.SetBaseURL(ts.URL)
	tc.url = ts.URL
	return tc
}

// browser is a client with a cookie jar, as a browser keeps the console's
// session.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// page fetches a console page and returns its status and HTML.
func (tc *testConsole) page(t *testing.T, client *http.Client, rel string) (int, string) {
	t.Helper()
	resp, err := client.Get(tc.url + DefaultPath + rel)
	if err != nil {
		t.Fatalf("GET %s: %v", rel, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfToken loads a page in client's session and returns its forms' token.
func (tc *testConsole) csrfToken(t *testing.T, client *http.Client) string {
	t.Helper()
	_, html := tc.page(t, client, "faults")
	m := csrfRE.FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no CSRF token on the faults page:\n%s", html)
	}
	return m[1]
}

// post submits a console form as a same-origin browser would, and returns
// the status and where it redirects; the flash message shown there is
// returned as the page's text.
func (tc *testConsole) post(t *testing.T, client *http.Client, rel string, form url.Values) (int, string) {
	t.Helper()
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", tc.csrfToken(t, client))
	}
	req, err := http.NewRequest(http.MethodPost, tc.url+DefaultPath+rel, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", tc.url)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", rel, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusSeeOther {
		return resp.StatusCode, string(b)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	_, html := tc.page(t, client, strings.TrimPrefix(loc.Path, DefaultPath))
	return resp.StatusCode, html
}

// flashRE finds the outcome a form's redirect shows.
var flashRE = regexp.MustCompile(`<p class="flash[^"]*" role="\w+"><strong>([^<]*)</strong> ([^<]*)</p>`)

func flashOf(page string) string {
	if m := flashRE.FindStringSubmatch(page); m != nil {
		return html.UnescapeString(m[1] + " " + m[2])
	}
	return ""
}

// serviceAccount returns the credentials of a fake service account whose
// requests go to the fake.
func (tc *testConsole) serviceAccount(t *testing.T, email string) *credentials.Credentials {
	t.Helper()
	key, err := tc.fake.ServiceAccountKeyJSON(email)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.FromJSON(key, &credentials.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// accessToken gets an access token of creds (one request to the token
// endpoint).
func accessToken(t *testing.T, creds *credentials.Credentials, scopes ...string) string {
	t.Helper()
	src, err := creds.AccessTokenSource(scopes)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	return tok.Value
}

// waitEntries waits for the timeline to hold n entries: the fake hands
// each exchange over after its answer is written, so a client may return
// first.
func (tc *testConsole) waitEntries(t *testing.T, n uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for tc.timeline.newest() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the timeline holds %d entries; want %d", tc.timeline.newest(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
