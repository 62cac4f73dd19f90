package oauthflow

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// TestRunInstalledRefusesForeignHost: a web page that rebinds its DNS name
// to the loopback listener sends a callback (here even with the right
// state) under its own name. The listener answers only the host:port it
// redirects to, so the page neither finishes nor aborts the sign-in, and
// the user's own redirect still completes it. (The check predates the
// security suite, so this is a plain regression test.)
func TestRunInstalledRefusesForeignHost(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	ua := newUserAgent(t, "allow", fakegoogle.DefaultUser)
	open := func(ctx context.Context, authURL string) error {
		u, _ := url.Parse(authURL)
		redirect, _ := url.Parse(u.Query().Get("redirect_uri"))
		for _, host := range []string{"attacker.example:" + redirect.Port(), "localhost.attacker.example"} {
			req, _ := http.NewRequest(http.MethodGet, redirect.String()+"?state="+url.QueryEscape(u.Query().Get("state"))+"&code=4/0Aattacker", nil)
			req.Host = host
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("rebound callback: %v", err)
				continue
			}
			res.Body.Close()
			if res.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("rebound callback with Host %s: got %d; want 421", host, res.StatusCode)
			}
		}
		return ua.open(ctx, authURL)
	}
	tok, err := RunInstalled(context.Background(), &InstalledOptions{Config: fakeConfig(f), Opener: open, Timeout: 30 * time.Second})
	if err != nil || !strings.HasPrefix(tok.AccessToken, "ya29.") {
		t.Fatalf("RunInstalled after rebound callbacks = %v, %v; want the user's sign-in to complete", tok, err)
	}
}
