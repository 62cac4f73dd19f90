package oauthflow

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/cputime"
)

func startFake(t *testing.T) *fakegoogle.Running {
	t.Helper()
	f, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func fakeConfig(f *fakegoogle.Running, scopes ...string) *Config {
	if len(scopes) == 0 {
		scopes = []string{"openid", "email", "https://www.googleapis.com/auth/cloud-platform"}
	}
	return &Config{
		ClientID: fakegoogle.DefaultClientID, ClientSecret: fakegoogle.DefaultClientSecret,
		Scopes: scopes, AuthURL: f.AuthURL(), TokenURL: f.URL + "/token", RevokeURL: f.URL + "/revoke",
	}
}

var consentIDRE = regexp.MustCompile(`name="consent" value="([^"]+)"`)

// userAgent plays the browser and the user: it loads the consent page,
// answers it and follows the redirect to the loopback address.
type userAgent struct {
	t        *testing.T
	decision string
	account  string

	mu       sync.Mutex
	lastPage string // the body the loopback server answered with
	done     chan struct{}
}

func newUserAgent(t *testing.T, decision, account string) *userAgent {
	return &userAgent{t: t, decision: decision, account: account, done: make(chan struct{})}
}

func (a *userAgent) open(_ context.Context, authURL string) error {
	go func() {
		defer close(a.done)
		resp, err := http.Get(authURL)
		if err != nil {
			a.t.Errorf("browser: GET consent page: %v", err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := consentIDRE.FindSubmatch(body)
		if m == nil {
			a.t.Errorf("browser: consent page (status %d) has no form:\n%s", resp.StatusCode, body)
			return
		}
		resp, err = http.PostForm(resp.Request.URL.String(), url.Values{
			"consent": {string(m[1])}, "decision": {a.decision}, "account": {a.account},
		})
		if err != nil {
			a.t.Errorf("browser: answer consent page: %v", err)
			return
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		a.mu.Lock()
		a.lastPage = string(body)
		a.mu.Unlock()
	}()
	return nil
}

func (a *userAgent) page() string {
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastPage
}

func TestRunInstalledAllow(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	ua := newUserAgent(t, "allow", fakegoogle.DefaultUser)
	var out bytes.Buffer
	tok, err := RunInstalled(context.Background(), &InstalledOptions{
		Config: fakeConfig(f), Params: AuthParams{Offline: true, Prompt: "consent"},
		Opener: ua.open, Out: &out, Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("RunInstalled: %v", err)
	}
	if !strings.HasPrefix(tok.AccessToken, "ya29.") || !strings.HasPrefix(tok.RefreshToken, "1//") || tok.IDToken == "" {
		t.Errorf("token = %+v; want access, refresh and ID tokens", tok.Token)
	}
	if tok.Email != fakegoogle.DefaultUser {
		t.Errorf("Email = %q; want %q", tok.Email, fakegoogle.DefaultUser)
	}
	if !strings.Contains(ua.page(), `<h1 id="status">Signed in</h1>`) {
		t.Errorf("browser ended on %q; want the success page", ua.page())
	}
	if !strings.Contains(out.String(), "code_challenge_method=S256") || !strings.Contains(out.String(), "redirect_uri=http%3A%2F%2F127.0.0.1%3A") {
		t.Errorf("instructions %q lack the URL with PKCE and the loopback redirect", out.String())
	}
	// The refresh token works through Refresh.
	again, err := fakeConfig(f).Refresh(context.Background(), tok.RefreshToken)
	if err != nil || !strings.HasPrefix(again.AccessToken, "ya29.") {
		t.Fatalf("Refresh: %v, %+v", err, again)
	}
}

func TestRunInstalledDeny(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	ua := newUserAgent(t, "deny", fakegoogle.DefaultUser)
	_, err := RunInstalled(context.Background(), &InstalledOptions{Config: fakeConfig(f), Opener: ua.open, Timeout: 30 * time.Second})
	var ae *AuthorizationError
	if !errors.As(err, &ae) || ae.Code != "access_denied" {
		t.Fatalf("err = %v; want an AuthorizationError access_denied", err)
	}
	if !strings.Contains(ua.page(), "Sign-in failed") {
		t.Errorf("browser ended on %q; want the failure page", ua.page())
	}
}

// TestRunInstalledForgedState: a request to the loopback address with
// another state ends the sign-in with ErrStateMismatch, and no exchange.
func TestRunInstalledForgedState(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	before := f.RequestCount("/token")
	forge := func(_ context.Context, authURL string) error {
		u, _ := url.Parse(authURL)
		redirect := u.Query().Get("redirect_uri")
		go func() {
			// First a stray request without parameters: ignored.
			if resp, err := http.Get(redirect + "favicon.ico"); err == nil {
				resp.Body.Close()
			}
			resp, err := http.Get(redirect + "?state=forged&code=4/0Aattacker")
			if err == nil {
				resp.Body.Close()
			}
		}()
		return nil
	}
	_, err := RunInstalled(context.Background(), &InstalledOptions{Config: fakeConfig(f), Opener: forge, Timeout: 30 * time.Second})
	if !errors.Is(err, ErrStateMismatch) {
		t.Fatalf("err = %v; want ErrStateMismatch", err)
	}
	if got := f.RequestCount("/token") - before; got != 0 {
		t.Errorf("forged code was exchanged (%d token requests)", got)
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	d, err := cputime.Process()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRunInstalledTimeoutDoesNotSpin: while it waits for a browser that
// never comes back, the flow blocks; it burns no CPU (oauth2l busy-waits a
// core here). Not parallel, so the CPU time is this test's alone.
func TestRunInstalledTimeoutDoesNotSpin(t *testing.T) {
	f := startFake(t)
	cfg := fakeConfig(f)
	start, cpu0 := time.Now(), cpuTime(t)
	const timeout = 1500 * time.Millisecond
	_, err := RunInstalled(context.Background(), &InstalledOptions{
		Config: cfg, Opener: func(context.Context, string) error { return nil }, Timeout: timeout,
	})
	wall, cpu := time.Since(start), cpuTime(t)-cpu0
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v; want ErrTimeout", err)
	}
	if wall < timeout || wall > timeout+2*time.Second {
		t.Errorf("returned after %v; want about %v", wall, timeout)
	}
	// A spinning wait would use about the whole wall time.
	if cpu > wall/5 {
		t.Errorf("used %v of CPU in %v of waiting; want next to none (no busy-wait)", cpu, wall)
	}
	t.Logf("waited %v using %v CPU (%.1f%%)", wall, cpu, 100*float64(cpu)/float64(wall))
}

func TestRunInstalledCanceled(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := RunInstalled(ctx, &InstalledOptions{Config: fakeConfig(f), Opener: func(context.Context, string) error { return nil }})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v; want context.Canceled", err)
	}
}

func TestRunInstalledPortInUse(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	opened := false
	_, err = RunInstalled(context.Background(), &InstalledOptions{
		Config: fakeConfig(f), Port: port, Opener: func(context.Context, string) error { opened = true; return nil },
	})
	var le *ListenError
	if !errors.As(err, &le) || !le.AddrInUse() {
		t.Fatalf("err = %v; want a ListenError with EADDRINUSE", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("error %q does not name the address", err)
	}
	if opened {
		t.Error("the browser was opened although nothing could receive the redirect")
	}
}

// signalWriter reports each write on a channel: the test reads the URL the
// flow prints.
type signalWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	select {
	case w.ch <- struct{}{}:
	default:
	}
	return len(p), nil
}

var printedURLRE = regexp.MustCompile(`http://127\.0\.0\.1:\d+/o/oauth2/v2/auth\?\S+`)

// TestRunInstalledPaste: the browser runs elsewhere; the user pastes the
// address it was sent to, or only the code.
func TestRunInstalledPaste(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct {
		name  string
		paste func(loc *url.URL) string
	}{
		{"whole address", func(loc *url.URL) string { return loc.String() }},
		{"code only", func(loc *url.URL) string { return loc.Query().Get("code") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pr, pw := io.Pipe()
			out := &signalWriter{ch: make(chan struct{}, 1)}
			go func() {
				var authURL string
				for authURL == "" {
					<-out.ch
					out.mu.Lock()
					authURL = printedURLRE.FindString(out.buf.String())
					out.mu.Unlock()
				}
				resp, err := http.Get(authURL)
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				id := consentIDRE.FindSubmatch(body)[1]
				resp, err = noFollow.PostForm(f.AuthURL(), url.Values{"consent": {string(id)}, "decision": {"allow"}, "account": {fakegoogle.DefaultUser}})
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				loc, _ := url.Parse(resp.Header.Get("Location"))
				io.WriteString(pw, "\n  "+tt.paste(loc)+"  \n")
			}()
			tok, err := RunInstalled(context.Background(), &InstalledOptions{
				Config: fakeConfig(f), Params: AuthParams{Offline: true, Prompt: "consent"},
				Browser: Paste, In: pr, Out: out, Timeout: 30 * time.Second,
				Opener: func(context.Context, string) error { t.Error("Paste mode opened a browser"); return nil },
			})
			if err != nil {
				t.Fatalf("RunInstalled: %v", err)
			}
			if tok.RefreshToken == "" {
				t.Error("no refresh token")
			}
		})
	}
	// Input that ends without a paste fails at once.
	_, err := RunInstalled(context.Background(), &InstalledOptions{Config: fakeConfig(f), Browser: Paste, In: strings.NewReader("")})
	if err == nil || !strings.Contains(err.Error(), "input ended") {
		t.Errorf("empty input: err = %v; want the input-ended error", err)
	}
}

func TestInstalledOptionsValidate(t *testing.T) {
	t.Parallel()
	good := &Config{ClientID: "c", Scopes: []string{"openid"}}
	tests := []struct {
		name string
		o    InstalledOptions
		want string
	}{
		{"no config", InstalledOptions{}, "Config is required"},
		{"no scopes", InstalledOptions{Config: &Config{ClientID: "c"}}, "Scopes is required"},
		{"no client id", InstalledOptions{Config: &Config{Scopes: []string{"openid"}}}, "ClientID is required"},
		{"remote host", InstalledOptions{Config: good, Host: "0.0.0.0"}, "loopback"},
		{"bad port", InstalledOptions{Config: good, Port: 70000}, "Port 70000"},
		{"paste without input", InstalledOptions{Config: good, Browser: Paste}, "In is required"},
		{"bad token URL", InstalledOptions{Config: &Config{ClientID: "c", Scopes: []string{"openid"}, TokenURL: "ftp://x"}}, "TokenURL"},
	}
	for _, tt := range tests {
		_, err := RunInstalled(context.Background(), &tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v; want it to mention %q", tt.name, err, tt.want)
		}
	}
}

func TestWebFlow(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	const callback = "https://app.example.com/oauth/callback"
	if err := f.AddWebClient("web.apps.googleusercontent.com", "web-secret", callback); err != nil {
		t.Fatal(err)
	}
	flow := &WebFlow{
		Config: &Config{
			ClientID: "web.apps.googleusercontent.com", ClientSecret: "web-secret",
			Scopes:  []string{"openid", "email"},
			AuthURL: f.AuthURL(), TokenURL: f.URL + "/token", RevokeURL: f.URL + "/revoke",
		},
		RedirectURI: callback,
		Params:      AuthParams{Offline: true, Prompt: "consent select_account", IncludeGrantedScopes: true},
	}
	p, err := flow.Start(fakegoogle.DefaultUser)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(p.URL)
	q := u.Query()
	for k, want := range map[string]string{
		"access_type": "offline", "prompt": "consent select_account", "include_granted_scopes": "true",
		"login_hint": fakegoogle.DefaultUser, "state": p.State, "code_challenge_method": "S256",
		"redirect_uri": callback, "response_type": "code", "scope": "openid email",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("auth URL %s = %q; want %q", k, got, want)
		}
	}
	second, _ := flow.Start("")
	if second.State == p.State || second.Verifier == p.Verifier {
		t.Error("two sign-ins share a state or verifier")
	}

	// The user consents; the fake redirects to the app's callback.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := http.Get(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := consentIDRE.FindSubmatch(body)[1]
	resp, err = noFollow.PostForm(f.AuthURL(), url.Values{"consent": {string(id)}, "decision": {"allow"}, "account": {fakegoogle.DefaultUser}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))

	forged := loc.Query()
	forged.Set("state", "someone-else")
	if _, err := flow.Finish(context.Background(), p, forged); !errors.Is(err, ErrStateMismatch) {
		t.Errorf("Finish with a forged state: err = %v; want ErrStateMismatch", err)
	}
	tok, err := flow.Finish(context.Background(), p, loc.Query())
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if tok.RefreshToken == "" || tok.Email != fakegoogle.DefaultUser {
		t.Errorf("token: refresh %v, email %q", tok.RefreshToken != "", tok.Email)
	}
	// The code is single-use: a second Finish is refused as a credential error.
	if _, err := flow.Finish(context.Background(), p, loc.Query()); !errors.Is(err, gcptoken.ErrInvalidCredentials) {
		t.Errorf("replayed code: err = %v; want ErrInvalidCredentials (invalid_grant)", err)
	}
	// The replay revoked the grant, so refreshing fails the same way.
	if _, err := flow.Config.Refresh(context.Background(), tok.RefreshToken); !errors.Is(err, gcptoken.ErrInvalidCredentials) {
		t.Errorf("Refresh after the replay: err = %v; want ErrInvalidCredentials", err)
	}
	if _, err := flow.Finish(context.Background(), &Pending{}, url.Values{"code": {"x"}}); err == nil || !strings.Contains(err.Error(), "no pending sign-in") {
		t.Errorf("Finish without a started sign-in: err = %v; want refused before any exchange", err)
	}
	denied := url.Values{"state": {p.State}, "error": {"access_denied"}}
	var ae *AuthorizationError
	if _, err := flow.Finish(context.Background(), p, denied); !errors.As(err, &ae) || ae.Code != "access_denied" {
		t.Errorf("Finish with access_denied: err = %v", err)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	rt, err := f.IssueRefreshToken(fakegoogle.DefaultClientID, fakegoogle.DefaultUser, []string{"openid"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := fakeConfig(f)
	if err := cfg.Revoke(context.Background(), rt); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := cfg.Refresh(context.Background(), rt); !errors.Is(err, gcptoken.ErrInvalidCredentials) {
		t.Errorf("Refresh of a revoked token: err = %v; want ErrInvalidCredentials", err)
	}
	var ge *gcptoken.Error
	if err := cfg.Revoke(context.Background(), rt); !errors.As(err, &ge) || ge.Code != "invalid_token" {
		t.Errorf("second Revoke: err = %v; want invalid_token", err)
	}
	cfg.RevokeURL = "http://127.0.0.1:1/revoke"
	if err := cfg.Revoke(context.Background(), rt); !gcptoken.IsUnavailable(err) {
		t.Errorf("Revoke at a closed port: err = %v; want an unavailable error", err)
	}
}
