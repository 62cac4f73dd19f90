package gcloudtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Login signs user (a user of the fake) in with `gcloud auth login` and
// its browser sign-in, as a person at a desktop does: gcloud starts its
// loopback server and opens "the browser" with the consent URL; the
// browser here is a script (BROWSER, which Python's webbrowser runs) that
// hands the URL to the test, which then plays the person: it opens the
// fake's consent page, chooses user, presses Allow and follows the
// redirect to gcloud's loopback server, which gets the code. gcloud then
// exchanges the code at Google's token endpoint (the fake, through the
// proxy), reads the account from the ID token and stores the credentials.
// extra are more arguments for `gcloud auth login` (such as --no-activate).
func (g *Gcloud) Login(t testing.TB, user string, extra ...string) {
	t.Helper()
	g.Fake.AddUser(user)
	urlFile := filepath.Join(g.scratch, "browser-"+randomHex(t)+".url")
	browser := filepath.Join(g.scratch, "browser-"+randomHex(t)+".sh")
	script := "#!/bin/sh\nprintf '%s\\n' \"$1\" >" + shellQuote(urlFile) + "\n"
	if err := os.WriteFile(browser, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.path, append([]string{"auth", "login", "--verbosity=error"}, extra...)...)
	// gcloud opens a browser only where it sees a display (check_browser.py).
	cmd.Env = g.Env("BROWSER="+browser, "DISPLAY=:0")
	cmd.Dir = g.scratch
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("gcloud auth login: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	consent, err := waitForFile(ctx, urlFile, waited)
	if err == nil {
		err = g.consent(ctx, consent, user)
	}
	if err != nil {
		cancel()
		<-waited
		t.Fatalf("gcloud auth login as %s: %v; gcloud said: %s", user, err, stderr.String())
	}
	if err := <-waited; err != nil {
		t.Fatalf("gcloud auth login as %s: %v: %s", user, err, stderr.String())
	}
}

// waitForFile waits for the browser script to write the consent URL, or
// for gcloud to end first.
func waitForFile(ctx context.Context, path string, exited <-chan error) (string, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if data, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(data), "\n") {
			return strings.TrimSpace(string(data)), nil
		}
		select {
		case err := <-exited:
			return "", fmt.Errorf("gcloud ended before opening a browser (%v)", err)
		case <-ctx.Done():
			return "", errors.New("gcloud never opened a browser")
		case <-tick.C:
		}
	}
}

// consentID finds the consent form's id on the fake's consent page.
var consentID = regexp.MustCompile(`name="consent" value="([^"]+)"`)

// consent plays the person at the browser: the consent page, Allow as
// user, and the redirect to gcloud's loopback server.
func (g *Gcloud) consent(ctx context.Context, authURL, user string) error {
	u, err := url.Parse(authURL)
	if err != nil || u.Host != "accounts.google.com" {
		return fmt.Errorf("gcloud opened %q; want Google's consent page", authURL)
	}
	// The browser reaches accounts.google.com's pages at the fake itself.
	page := g.Fake.URL + u.Path
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	body, _, err := fetch(ctx, noRedirect, http.MethodGet, page+"?"+u.RawQuery, nil)
	if err != nil {
		return fmt.Errorf("consent page: %w", err)
	}
	m := consentID.FindStringSubmatch(body)
	if m == nil {
		return fmt.Errorf("the consent page has no form: %.300s", body)
	}
	form := url.Values{"consent": {m[1]}, "account": {user}, "decision": {"allow"}}
	_, back, err := fetch(ctx, noRedirect, http.MethodPost, page, form)
	if err != nil {
		return fmt.Errorf("allow: %w", err)
	}
	if r, err := url.Parse(back); err != nil || r.Query().Get("code") == "" {
		return fmt.Errorf("allow redirected to %q; want gcloud's loopback server with a code", back)
	}
	direct := &http.Client{Transport: &http.Transport{Proxy: nil}}
	if _, _, err := fetch(ctx, direct, http.MethodGet, back, nil); err != nil {
		return fmt.Errorf("gcloud's loopback server: %w", err)
	}
	return nil
}

// fetch makes one request and returns the body and, for a redirect, its
// Location; any other status but 200 is an error.
func fetch(ctx context.Context, c *http.Client, method, target string, form url.Values) (body, location string, err error) {
	var r io.Reader
	if form != nil {
		r = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, r)
	if err != nil {
		return "", "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch resp.StatusCode {
	case http.StatusOK:
		return string(data), "", nil
	case http.StatusFound, http.StatusSeeOther:
		return string(data), resp.Header.Get("Location"), nil
	}
	return "", "", fmt.Errorf("%s %s: HTTP %d: %.300s", method, target, resp.StatusCode, data)
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
