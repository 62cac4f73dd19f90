package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/cputime"
)

// chromiumPath is where Debian's chromium package puts the browser; `make
// deps` installs it.
const chromiumPath = "/usr/bin/chromium"

// requireChromium skips the test when Chromium is missing, except under
// CI=true, where a missing browser is a failure (like crosscheck's
// requirePeer).
func requireChromium(t *testing.T) {
	t.Helper()
	skipOnWindows(t, "drives Debian's Chromium (/usr/bin/chromium); the Windows build's browser opener is oauthflow.TestBrowserCommand's")
	if _, err := os.Stat(chromiumPath); err == nil {
		return
	}
	msg := fmt.Sprintf("headless Chromium (%s) unavailable; to install: make deps (runs apt-get install -y chromium)", chromiumPath)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a missing browser is a failure)", msg)
	}
	t.Skip(msg)
}

// newChromium starts a headless Chromium with a fresh profile and returns
// a browser context; each tab is chromedp.NewContext of it. The
// background-networking flags matter: without them Chromium keeps dialling
// Google's update and sync services, which on a closed network means a
// flood of failing connections.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(900, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	// Start the browser now, so that its start-up is not charged to the
	// first sign-in's timeout.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return bctx
}

// artifactsDir is where screenshots go: $GCPTOKEN_ARTIFACTS, else a
// temporary directory.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("GCPTOKEN_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("GCPTOKEN_ARTIFACTS: %v", err)
	}
	return dir
}

// saveScreenshot writes a PNG and checks that it is one.
func saveScreenshot(t *testing.T, dir, name string, png []byte) {
	t.Helper()
	if len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s: %d bytes, not a PNG image", name, len(png))
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", p, len(png))
}

// browserRun is what a tab did: the text of the final page's heading and
// any failure.
type browserRun struct {
	status string
	err    error
}

// tabOpener is an App.OpenBrowser that loads the URL in a new tab and then
// runs steps there, reporting on the returned channel.
func tabOpener(browser context.Context, steps func(tab context.Context, authURL string) browserRun) (func(context.Context, string) error, <-chan browserRun) {
	done := make(chan browserRun, 1)
	return func(_ context.Context, authURL string) error {
		go func() {
			// Not the opener's context: it ends with the sign-in, and the
			// tab must outlive it to take the last screenshot.
			tab, cancel := chromedp.NewContext(browser)
			defer cancel()
			tab, cancelTimeout := context.WithTimeout(tab, 60*time.Second)
			defer cancelTimeout()
			done <- steps(tab, authURL)
		}()
		return nil
	}, done
}

// TestLoginInBrowser drives `gcptoken login` with headless Chromium against
// the fake: the consent page, Allow, the loopback redirect, the ADC file,
// print-access-token from it; then Deny, a forged state, and a browser
// that never comes back.
func TestLoginInBrowser(t *testing.T) {
	requireChromium(t)
	f := ownFake(t)
	browser := newChromium(t)
	artifacts := artifactsDir(t)
	client := clientFile(t, f, fakegoogle.DefaultClientID)

	t.Run("allow", func(t *testing.T) {
		e, adc := loginEnv(t)
		open, done := tabOpener(browser, func(tab context.Context, authURL string) browserRun {
			if err := chromedp.Do(tab, chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.ID("allow"))); err != nil {
				return browserRun{err: fmt.Errorf("consent page: %w", err)}
			}
			shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
			if err != nil {
				return browserRun{err: fmt.Errorf("screenshot consent page: %w", err)}
			}
			saveScreenshot(t, artifacts, "login-consent.png", shot)
			if err := chromedp.Do(tab, chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("status"))); err != nil {
				return browserRun{err: fmt.Errorf("allow: %w", err)}
			}
			status, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("status")))
			if err != nil {
				return browserRun{err: err}
			}
			loc, _ := chromedp.Run(tab, chromedp.Location())
			if !strings.HasPrefix(loc, "http://127.0.0.1:") {
				return browserRun{err: fmt.Errorf("ended at %q; want the loopback address", loc)}
			}
			shot, err = chromedp.Run(tab, chromedp.FullScreenshot(100))
			if err != nil {
				return browserRun{err: fmt.Errorf("screenshot success page: %w", err)}
			}
			saveScreenshot(t, artifacts, "login-success.png", shot)
			return browserRun{status: status}
		})
		r := runWith(t, e, open, strings.NewReader(""), "login", "--client-id-file", client, "--timeout", "60s")
		b := <-done
		if b.err != nil {
			t.Fatalf("browser: %v", b.err)
		}
		wantCode(t, r, 0)
		if b.status != "Signed in" {
			t.Errorf("success page heading = %q; want %q", b.status, "Signed in")
		}
		wantMode(t, adc, 0o600)
		p := run(t, e, "", "print-access-token", "--no-cache")
		wantCode(t, p, 0)
		if !strings.HasPrefix(strings.TrimSpace(p.stdout), "ya29.") {
			t.Errorf("print-access-token printed %q; want an access token", p.stdout)
		}
	})

	t.Run("deny", func(t *testing.T) {
		e, adc := loginEnv(t)
		open, done := tabOpener(browser, func(tab context.Context, authURL string) browserRun {
			err := chromedp.Do(tab, chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.ID("deny")),
				chromedp.Click(chromedp.ID("deny")), chromedp.WaitVisible(chromedp.ID("status")))
			if err != nil {
				return browserRun{err: err}
			}
			status, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("status")))
			return browserRun{status: status, err: err}
		})
		r := runWith(t, e, open, strings.NewReader(""), "login", "--client-id-file", client, "--timeout", "60s")
		b := <-done
		if b.err != nil {
			t.Fatalf("browser: %v", b.err)
		}
		wantCode(t, r, ExitCredentials)
		wantLoginError(t, r, "access was denied", "nothing was saved")
		wantNoFile(t, adc)
		if b.status != "Sign-in failed" {
			t.Errorf("page heading after Deny = %q; want %q", b.status, "Sign-in failed")
		}
	})

	t.Run("forged state", func(t *testing.T) {
		e, adc := loginEnv(t)
		open, done := tabOpener(browser, func(tab context.Context, authURL string) browserRun {
			u, _ := url.Parse(authURL)
			forged := u.Query().Get("redirect_uri") + "?state=forged&code=4/0Aforged&scope=openid"
			err := chromedp.Do(tab, chromedp.Navigate(forged), chromedp.WaitVisible(chromedp.ID("status")))
			if err != nil {
				return browserRun{err: err}
			}
			status, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("status")))
			return browserRun{status: status, err: err}
		})
		before := f.RequestCount("/token")
		r := runWith(t, e, open, strings.NewReader(""), "login", "--client-id-file", client, "--timeout", "60s")
		b := <-done
		if b.err != nil {
			t.Fatalf("browser: %v", b.err)
		}
		wantCode(t, r, ExitCredentials)
		wantLoginError(t, r, "different state", "rejected")
		wantNoFile(t, adc)
		if got := f.RequestCount("/token") - before; got != 0 {
			t.Errorf("the forged code was sent to the token endpoint (%d requests)", got)
		}
	})

	// The browser shows the consent page and nobody clicks: login gives up
	// at --timeout, having slept rather than spun.
	t.Run("timeout", func(t *testing.T) {
		e, adc := loginEnv(t)
		open, done := tabOpener(browser, func(tab context.Context, authURL string) browserRun {
			return browserRun{err: chromedp.Do(tab, chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.ID("allow")))}
		})
		start, cpu0 := time.Now(), processCPU(t)
		r := runWith(t, e, open, strings.NewReader(""), "login", "--client-id-file", client, "--timeout", "3s")
		wall, cpu := time.Since(start), processCPU(t)-cpu0
		if b := <-done; b.err != nil {
			t.Fatalf("browser: %v", b.err)
		}
		wantCode(t, r, ExitError)
		wantLoginError(t, r, "timed out after 3s")
		wantNoFile(t, adc)
		if cpu > wall/4 {
			t.Errorf("login used %v CPU in %v; want next to none while it waits", cpu, wall)
		}
		t.Logf("waited %v for the browser using %v CPU in the test process (%.1f%%)", wall, cpu, 100*float64(cpu)/float64(wall))
	})
}

// processCPU is this process's user+system CPU time.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	d, err := cputime.Process()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
