package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// runWith is run with a browser opener and stdin reader for login.
func runWith(t *testing.T, e env, open func(context.Context, string) error, stdin io.Reader, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	app := &App{
		In: stdin, Out: &out, Err: &errb,
		Getenv:      func(k string) string { return e[k] },
		OpenBrowser: open,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	code := Run(ctx, app, args)
	r := result{code: code, stdout: out.String(), stderr: errb.String(), duration: time.Since(start)}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		t.Fatalf("gcptoken %v printed a stack trace:\n%s", args, r.stderr)
	}
	return r
}

// loginEnv is a test environment whose gcloud config directory is private.
func loginEnv(t *testing.T) (env, string) {
	e := newEnv(t)
	e["CLOUDSDK_CONFIG"] = filepath.Join(e["HOME"], "gcloud-config")
	return e, filepath.Join(e["CLOUDSDK_CONFIG"], "application_default_credentials.json")
}

// clientFile writes the fake's client JSON for clientID.
func clientFile(t *testing.T, f *fakegoogle.Running, clientID string) string {
	t.Helper()
	data, err := f.ClientSecretJSON(clientID)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "client_secret.json", data)
}

var consentIDRE = regexp.MustCompile(`name="consent" value="([^"]+)"`)

// goBrowser is an opener that plays browser and user over plain HTTP:
// load the consent page, answer it, follow the redirect to the loopback
// address. The last page it saw is sent on the returned channel.
func goBrowser(t *testing.T, decision string) (func(context.Context, string) error, <-chan string) {
	pages := make(chan string, 1)
	return func(_ context.Context, authURL string) error {
		go func() {
			body, u, status := httpGet(t, authURL)
			m := consentIDRE.FindStringSubmatch(body)
			if m == nil {
				pages <- strconv.Itoa(status) + " " + body
				return
			}
			resp, err := http.PostForm(u, url.Values{"consent": {m[1]}, "decision": {decision}, "account": {fakegoogle.DefaultUser}})
			if err != nil {
				t.Errorf("browser: %v", err)
				pages <- ""
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			pages <- string(b)
		}()
		return nil
	}, pages
}

func httpGet(t *testing.T, u string) (body, finalURL string, status int) {
	resp, err := http.Get(u)
	if err != nil {
		t.Errorf("browser: GET: %v", err)
		return "", u, 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.Request.URL.String(), resp.StatusCode
}

// wantLoginError checks the error contract after login's instructions
// (the URL, what to paste), which precede the error on stderr.
func wantLoginError(t *testing.T, r result, fragments ...string) {
	t.Helper()
	i := strings.Index(r.stderr, "gcptoken: ")
	if i < 0 {
		t.Fatalf("stderr %q has no error line", r.stderr)
	}
	if i > 0 && r.stderr[i-1] != '\n' {
		t.Fatalf("the error does not start a line: %q", r.stderr)
	}
	wantOneLineError(t, result{code: r.code, stderr: r.stderr[i:]}, fragments...)
}

func wantNoFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists after a failed login (stat: %v); want no file", path, err)
	}
}

// TestLoginLogout: login writes gcloud's ADC file, print-access-token uses
// it, logout revokes and removes it.
func TestLoginLogout(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e, adc := loginEnv(t)
	open, pages := goBrowser(t, "allow")
	r := runWith(t, e, open, strings.NewReader(""), "login", "--client-id-file", clientFile(t, f, fakegoogle.DefaultClientID),
		"--quota-project", "quota-proj", "--login-hint", fakegoogle.DefaultUser)
	wantCode(t, r, 0)
	if page := <-pages; !strings.Contains(page, "Signed in") {
		t.Errorf("browser ended on %q; want the success page", page)
	}
	if r.stdout != "" {
		t.Errorf("login wrote %q to stdout; want nothing", r.stdout)
	}
	if !strings.Contains(r.stderr, "Signed in as "+fakegoogle.DefaultUser) || !strings.Contains(r.stderr, adc) {
		t.Errorf("stderr %q does not say who signed in and where the file is", r.stderr)
	}
	if _, err := os.Stat(adc); err != nil {
		t.Fatalf("ADC file: %v", err)
	}
	wantMode(t, adc, 0o600)
	wantMode(t, filepath.Dir(adc), 0o700)
	data, _ := os.ReadFile(adc)
	var file map[string]string
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"type": "authorized_user", "client_id": fakegoogle.DefaultClientID, "client_secret": fakegoogle.DefaultClientSecret,
		"account": fakegoogle.DefaultUser, "quota_project_id": "quota-proj", "token_uri": f.URL + "/token",
	} {
		if file[k] != want {
			t.Errorf("ADC %s = %q; want %q", k, file[k], want)
		}
	}
	if !strings.HasPrefix(file["refresh_token"], "1//") {
		t.Errorf("ADC refresh_token missing")
	}
	if strings.Contains(r.stderr, file["refresh_token"]) {
		t.Error("login printed the refresh token")
	}

	p := run(t, e, "", "print-access-token", "--no-cache")
	wantCode(t, p, 0)
	if !strings.HasPrefix(strings.TrimSpace(p.stdout), "ya29.") {
		t.Fatalf("print-access-token printed %q", p.stdout)
	}

	keep := writeFile(t, "copy.json", data)
	l := run(t, e, "", "logout")
	wantCode(t, l, 0)
	wantNoFile(t, adc)
	// The refresh token is revoked: the copy no longer works.
	after := run(t, e, "", "print-access-token", "--no-cache", "--credentials", keep)
	wantCode(t, after, ExitCredentials)
	wantOneLineError(t, after, "invalid_grant")
	// Logging out again: nothing there.
	again := run(t, e, "", "logout")
	wantCode(t, again, ExitCredentials)
	wantOneLineError(t, again, "no credentials file at", adc)
}

// TestLoginEmulatorDefaults: under the emulator's environment no client
// file or URL flag is needed.
func TestLoginEmulatorDefaults(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e, _ := loginEnv(t)
	out := filepath.Join(t.TempDir(), "sub", "adc.json")
	e["GCPTOKEN_EMULATOR_URL"] = f.URL
	e["GCPTOKEN_AUTH_URL"] = f.AuthURL()
	e["CLOUDSDK_AUTH_TOKEN_HOST"] = f.URL + "/token"
	open, pages := goBrowser(t, "allow")
	r := runWith(t, e, open, strings.NewReader(""), "login", "--output", out, "--scopes", "cloud-platform,openid,email")
	wantCode(t, r, 0)
	<-pages
	p := run(t, e, "", "print-access-token", "--no-cache", "--credentials", out)
	wantCode(t, p, 0)
}

// TestLoginBadInput: every failure is one line, a non-zero exit code, and
// no file.
func TestLoginBadInput(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	if err := f.AddWebClient("web-only.apps.googleusercontent.com", "web-secret", "https://app.example.com/cb"); err != nil {
		t.Fatal(err)
	}
	good := clientFile(t, f, fakegoogle.DefaultClientID)
	webFile := clientFile(t, f, "web-only.apps.googleusercontent.com")
	// The web client's id in an "installed" file: the fake refuses its
	// loopback redirect.
	var parsed map[string]map[string]any
	data, _ := os.ReadFile(webFile)
	json.Unmarshal(data, &parsed)
	mislabelled, _ := json.Marshal(map[string]any{"installed": parsed["web"]})
	mislabelledFile := writeFile(t, "mislabelled.json", mislabelled)

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // after the parallel subtests
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)

	never := func(context.Context, string) error { return nil }
	forge := func(_ context.Context, authURL string) error {
		u, _ := url.Parse(authURL)
		go httpGet(t, u.Query().Get("redirect_uri")+"?state=forged&code=4/0Aforged")
		return nil
	}
	var mu sync.Mutex
	var mismatchPage string
	seeMismatch := func(_ context.Context, authURL string) error {
		go func() {
			body, _, status := httpGet(t, authURL)
			mu.Lock()
			mismatchPage = strconv.Itoa(status) + " " + body
			mu.Unlock()
		}()
		return nil
	}
	deny, _ := goBrowser(t, "deny")

	tests := []struct {
		name      string
		open      func(context.Context, string) error
		stdin     func(t *testing.T) io.Reader
		args      []string
		wantCode  int
		fragments []string
	}{
		{"service-account key as client file", never, nil, []string{"--client-id-file", saKeyFile(t, f)}, ExitCredentials,
			[]string{"--client-id-file", "sa.json", `"service_account" credential, not an OAuth client`}},
		{"web client file", never, nil, []string{"--client-id-file", webFile}, ExitCredentials, []string{"--client-id-file", "web application", "Desktop app"}},
		{"missing client file", never, nil, []string{"--client-id-file", filepath.Join(t.TempDir(), "nope.json")}, ExitUsage, []string{"--client-id-file", "does not exist"}},
		{"no client file outside the emulator", never, nil, nil, ExitUsage, []string{"--client-id-file is required", "Desktop app"}},
		{"two modes", never, nil, []string{"--client-id-file", good, "--no-browser", "--paste"}, ExitUsage, []string{"--no-browser", "--paste"}},
		{"zero timeout", never, nil, []string{"--client-id-file", good, "--timeout", "0s"}, ExitUsage, []string{"--timeout"}},
		{"bad auth URL", never, nil, []string{"--client-id-file", good, "--auth-url", "accounts"}, ExitUsage, []string{"--auth-url", "absolute"}},
		{"port in use", never, nil, []string{"--client-id-file", good, "--port", busyPort}, ExitListen, []string{"--port " + busyPort, "address is in use"}},
		{"user denies", deny, nil, []string{"--client-id-file", good}, ExitCredentials, []string{"access was denied", "nothing was saved"}},
		{"state mismatch", forge, nil, []string{"--client-id-file", good}, ExitCredentials, []string{"different state", "rejected", "nothing was saved"}},
		{"browser never returns", never, nil, []string{"--client-id-file", good, "--timeout", "1s"}, ExitError, []string{"timed out after 1s", "nothing was saved"}},
		{"redirect mismatch", seeMismatch, nil, []string{"--client-id-file", mislabelledFile, "--timeout", "2s"}, ExitError, []string{"timed out"}},
		{"code replayed", never, func(t *testing.T) io.Reader { return strings.NewReader(spentCode(t, f) + "\n") },
			[]string{"--client-id-file", good, "--paste"}, ExitCredentials, []string{"invalid_grant", "nothing was saved"}},
		{"paste input ends", never, nil, []string{"--client-id-file", good, "--paste"}, ExitError, []string{"input ended"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, adc := loginEnv(t)
			var in io.Reader = strings.NewReader("")
			if tt.stdin != nil {
				in = tt.stdin(t)
			}
			r := runWith(t, e, tt.open, in, append([]string{"login"}, tt.args...)...)
			wantCode(t, r, tt.wantCode)
			wantLoginError(t, r, tt.fragments...)
			wantNoFile(t, adc)
			if tt.name == "redirect mismatch" {
				mu.Lock()
				defer mu.Unlock()
				if !strings.HasPrefix(mismatchPage, "400 ") || !strings.Contains(mismatchPage, "redirect_uri_mismatch") {
					t.Errorf("the browser saw %.80q; want Google's 400 redirect_uri_mismatch page", mismatchPage)
				}
			}
		})
	}
}

// spentCode returns an authorization code that has already been exchanged.
func spentCode(t *testing.T, f *fakegoogle.Running) string {
	t.Helper()
	q := url.Values{
		"client_id": {fakegoogle.DefaultClientID}, "redirect_uri": {"http://127.0.0.1:1/"}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s"},
	}
	body, u, _ := httpGet(t, f.AuthURL()+"?"+q.Encode())
	m := consentIDRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no consent page: %s", body)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.PostForm(u, url.Values{"consent": {m[1]}, "decision": {"allow"}, "account": {fakegoogle.DefaultUser}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	resp, err = http.PostForm(f.URL+"/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://127.0.0.1:1/"},
		"client_id": {fakegoogle.DefaultClientID}, "client_secret": {fakegoogle.DefaultClientSecret},
	})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first exchange: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	return code
}

func TestLogoutBadInput(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	sa := saKeyFile(t, f)
	user, _ := userFile(t, f)
	unreachable, _ := userFile(t, f)
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		fragments []string
		kept      string
	}{
		{"service-account key", []string{"--credentials", sa}, ExitCredentials, []string{"sa.json", `"service_account" credential`, "left in place"}, sa},
		{"not JSON", []string{"--credentials", writeFile(t, "x.json", []byte("nope"))}, ExitCredentials, []string{"not a JSON credentials file"}, ""},
		{"revoke endpoint down", []string{"--credentials", unreachable, "--revoke-url", "http://127.0.0.1:1/revoke"}, ExitUnavailable, []string{"revoke token", "was kept", "--no-revoke"}, unreachable},
		{"bad revoke URL", []string{"--credentials", user, "--revoke-url", "revoke"}, ExitUsage, []string{"--revoke-url"}, user},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, e, "", append([]string{"logout"}, tt.args...)...)
			wantCode(t, r, tt.wantCode)
			wantOneLineError(t, r, tt.fragments...)
			if tt.kept != "" {
				if _, err := os.Stat(tt.kept); err != nil {
					t.Errorf("%s was removed: %v", tt.kept, err)
				}
			}
		})
	}
	// --no-revoke removes without contacting anyone.
	r := run(t, e, "", "logout", "--credentials", unreachable, "--no-revoke", "--revoke-url", "http://127.0.0.1:1/revoke")
	wantCode(t, r, 0)
	wantNoFile(t, unreachable)
}
