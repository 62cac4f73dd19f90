package emulator

import (
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/fakegoogle/console"
)

// TestConsole checks that the emulator serves its console beside the fake:
// the requests it answers appear there, and an IAM change made there is
// saved in state.json.
func TestConsole(t *testing.T) {
	t.Parallel()
	em := newTest(t, Options{})
	info := em.Info()
	stop := serve(t, em)
	if want := info.URL + console.DefaultPath; info.ConsoleURL != want {
		t.Fatalf("got ConsoleURL %q; want %q", info.ConsoleURL, want)
	}
	get(t, plainClient, info.URL+"/.well-known/openid-configuration", "", "User-Agent", "console-test/1")
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, body := get(t, browser, info.ConsoleURL, "")
		if status == http.StatusOK && strings.Contains(body, "console-test/1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console (%d) does not show the request:\n%s", status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}

	_, page := get(t, browser, info.ConsoleURL+"identities", "")
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if csrf == nil {
		t.Fatal("no CSRF token on the identities page")
	}
	resp, err := browser.PostForm(info.ConsoleURL+"identities/service-account", url.Values{"csrf": {csrf[1]},
		"account": {fakegoogle.DefaultServiceAccount}, "op": {"grant"}, "member": {"console-grant@example.com"}})
	if err != nil || resp.StatusCode != http.StatusOK { // after the redirect
		t.Fatalf("grant form: %v %v", resp, err)
	}
	resp.Body.Close()
	state, err := os.ReadFile(filepath.Join(info.StateDir, stateFile))
	if err != nil || !strings.Contains(string(state), "console-grant@example.com") {
		t.Errorf("state.json lacks the grant made in the console (%v)", err)
	}

	// A page waiting for live updates does not hold the shutdown open.
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		if resp, err := browser.Get(info.ConsoleURL + "rows?after=1000000"); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if err := stop(); err != nil {
		t.Errorf("got Serve = %v with a live update pending; want a clean shutdown", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("shutdown took %v with a live update pending", took)
	}
	<-pollDone
}

// TestConsoleDisabled checks DisableConsole: no URL, and its path is the
// fake's, which models nothing there.
func TestConsoleDisabled(t *testing.T) {
	t.Parallel()
	em := newTest(t, Options{DisableConsole: true})
	serve(t, em)
	if u := em.Info().ConsoleURL; u != "" {
		t.Errorf("got ConsoleURL %q; want none", u)
	}
	if status, _ := get(t, plainClient, em.Info().URL+console.DefaultPath, ""); status != http.StatusNotFound {
		t.Errorf("got %d at the console's path without a console; want the fake's 404", status)
	}
}

func TestConsoleURL(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"127.0.0.1:8086": "http://127.0.0.1:8086/c/",
		"0.0.0.0:8086":   "http://127.0.0.1:8086/c/",
		"[::]:8086":      "http://[::1]:8086/c/",
		"[::1]:8086":     "http://[::1]:8086/c/",
		"192.0.2.1:8086": "",
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := consoleURL(tcp, "/c/"); got != want {
			t.Errorf("consoleURL(%s) = %q; want %q", addr, got, want)
		}
	}
}
