package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// startProxyCmd runs `gcptoken proxy` in-process until the test ends and
// returns its host:port and its output so far.
func startProxyCmd(t *testing.T, e env, args ...string) (addr string, out, errb *syncBuffer) {
	t.Helper()
	out, errb = &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	app := &App{Out: out, Err: errb, Getenv: func(k string) string { return e[k] }}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, app, append([]string{"proxy", "--listen", "127.0.0.1:0"}, args...))
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("proxy exited with %d: %s", code, errb.String())
		}
		if !strings.Contains(out.String(), "Stopped.") {
			t.Errorf("proxy did not say it stopped:\n%s", out.String())
		}
	})
	re := regexp.MustCompile(`listening on http://(\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil && (!strings.Contains(strings.Join(args, " "), "--ops-listen") || strings.Contains(out.String(), "Ops:")) {
			return m[1], out, errb
		}
		select {
		case code := <-done:
			t.Fatalf("proxy exited with %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy did not start: %s %s", out.String(), errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func proxyGet(t *testing.T, rawURL string) (int, string) {
	t.Helper()
	resp, err := http.Get(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestProxyCommand(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	key := saKeyFile(t, f)
	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantBody   string
	}{
		{"ID token for the sample service", []string{"--audience", f.SampleServiceURL()}, http.StatusOK, `"caller": "` + fakegoogle.DefaultServiceAccount},
		{"in X-Serverless-Authorization", []string{"--audience", f.SampleServiceURL(), "--header", "x-serverless-authorization"}, http.StatusOK, fakegoogle.DefaultServiceAccount},
		// The default audience is the target's scheme and host, which the
		// sample service (audience: its full URL) refuses, naming both.
		{"default audience", nil, http.StatusUnauthorized, `the ID token is for \"` + f.URL + `\"`},
		{"access token", []string{"--access-token"}, http.StatusUnauthorized, "not a JWT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr, out, _ := startProxyCmd(t, newEnv(t), append([]string{"--target", f.URL, "--credentials", key}, tt.args...)...)
			status, body := proxyGet(t, "http://"+addr+"/sample/get_range?start=1&end=3")
			if status != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Errorf("got %d %q; want %d containing %q", status, body, tt.wantStatus, tt.wantBody)
			}
			if status == http.StatusOK {
				var got struct{ Range []int }
				if err := json.Unmarshal([]byte(body), &got); err != nil || !slices.Equal(got.Range, []int{1, 2, 3}) {
					t.Errorf("got range %v, %v; want [1 2 3]", got.Range, err)
				}
			}
			if !strings.Contains(out.String(), fakegoogle.DefaultServiceAccount) {
				t.Errorf("start-up message does not name the principal:\n%s", out.String())
			}
		})
	}
}

func TestProxyCommandOpsAndLogs(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	addr, out, errb := startProxyCmd(t, newEnv(t), "--target", f.URL, "--audience", f.SampleServiceURL(),
		"--credentials", saKeyFile(t, f), "--ops-listen", "127.0.0.1:0", "--log-format", "json")
	m := regexp.MustCompile(`Ops: http://(\S+)/healthz`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no ops address in:\n%s", out.String())
	}
	ops := m[1]
	if status, body := proxyGet(t, "http://"+addr+"/sample/get_range?start=2&end=2&secret=q"); status != http.StatusOK {
		t.Fatalf("got %d %q", status, body)
	}
	if status, body := proxyGet(t, "http://"+ops+"/healthz"); status != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz: got %d %q", status, body)
	}
	if status, body := proxyGet(t, "http://"+ops+"/readyz"); status != http.StatusOK {
		t.Errorf("GET /readyz: got %d %q", status, body)
	}
	status, body := proxyGet(t, "http://"+ops+"/metrics")
	if status != http.StatusOK || !strings.Contains(body, `gcptoken_authproxy_requests_total{method="GET",code="2xx"} 1`) {
		t.Errorf("GET /metrics: got %d\n%s", status, body)
	}
	// The proxied listener does not serve them: they belong to the app.
	if status, _ := proxyGet(t, "http://"+addr+"/metrics"); status != http.StatusNotFound {
		t.Errorf("GET /metrics through the proxy: got %d; want the fake's 404", status)
	}

	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errb.String(), `"path":"/sample/get_range"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no access log line on stderr:\n%s", errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for line := range strings.Lines(errb.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("stderr line is not JSON: %q", line)
		}
	}
	if strings.Contains(errb.String(), "secret=q") || strings.Contains(errb.String(), "eyJ") {
		t.Errorf("log contains a query string or a token:\n%s", errb.String())
	}
}

func TestProxyCommandWarnsOnNonLoopback(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	_, _, errb := startProxyCmd(t, newEnv(t), "--target", f.URL, "--credentials", saKeyFile(t, f), "--listen", "0.0.0.0:0")
	if !strings.Contains(errb.String(), "WARNING") || !strings.Contains(errb.String(), "non-loopback") {
		t.Errorf("no warning for a non-loopback listen address:\n%s", errb.String())
	}
}

func TestProxyAudience(t *testing.T) {
	t.Parallel()
	tests := []struct {
		flag, target, want string
	}{
		{"", "https://svc-abc-uc.a.run.app", "https://svc-abc-uc.a.run.app"},
		{"", "https://svc-abc-uc.a.run.app/api/v1", "https://svc-abc-uc.a.run.app"},
		{"", "https://us-central1-p.cloudfunctions.net/fn/sub", "https://us-central1-p.cloudfunctions.net/fn"},
		{"", "http://127.0.0.1:8080/x", "http://127.0.0.1:8080"},
		{"aud-123", "https://svc.example.com", "aud-123"},
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.target)
		got, err := proxyAudience(tt.flag, u)
		if err != nil || got != tt.want {
			t.Errorf("proxyAudience(%q, %s) = %q, %v; want %q", tt.flag, tt.target, got, err, tt.want)
		}
	}
}

func TestProxyBadInput(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	key := saKeyFile(t, f)
	target := []string{"proxy", "--credentials", key, "--target", "https://svc-abc-uc.a.run.app"}
	tests := []struct {
		name      string
		args      []string
		fragments []string
	}{
		{"no target", []string{"proxy", "--credentials", key}, []string{"--target is required"}},
		{"relative target", []string{"proxy", "--credentials", key, "--target", "/svc"}, []string{"--target", "absolute"}},
		{"host without scheme", []string{"proxy", "--credentials", key, "--target", "svc.example.com"}, []string{"--target", "absolute"}},
		{"ftp target", []string{"proxy", "--credentials", key, "--target", "ftp://svc.example.com"}, []string{"--target"}},
		{"user info", []string{"proxy", "--credentials", key, "--target", "https://u:pw@svc.example.com"}, []string{"user info"}},
		{"function without name", []string{"proxy", "--credentials", key, "--target", "https://us-central1-p.cloudfunctions.net"}, []string{"function"}},
		{"audience and access token", append(target, "--audience", "a", "--access-token"), []string{"--audience", "--access-token"}},
		{"scopes without access token", append(target, "--scopes", "cloud-platform"), []string{"--scopes", "--access-token"}},
		{"bad header", append(target, "--header", "proxy-authorization"), []string{"--header"}},
		{"bad listen", append(target, "--listen", "8080"), []string{"--listen"}},
		{"bad ops listen", append(target, "--ops-listen", "nope"), []string{"--ops-listen"}},
		{"bad log format", append(target, "--log-format", "xml"), []string{"--log-format"}},
		{"URL as allowed host", append(target, "--allow-host", "http://svc.example"), []string{"--allow-host", "http://svc.example"}},
		{"positional argument", append(target, "extra"), []string{"proxy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, newEnv(t), "", tt.args...)
			wantCode(t, r, ExitUsage)
			wantOneLineError(t, r, tt.fragments...)
			if strings.Contains(r.stderr, "pw@") {
				t.Errorf("error shows the password: %s", r.stderr)
			}
		})
	}
}

func TestProxyRefusedCredentials(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	user, rt := userFile(t, f)
	f.RevokeToken(rt)
	// A refused credential stops the proxy at start-up, before it listens.
	r := run(t, newEnv(t), "", "proxy", "--listen", "127.0.0.1:0", "--credentials", user, "--target", f.URL)
	wantCode(t, r, ExitCredentials)
	wantOneLineError(t, r, "proxy", "invalid_grant")
	if strings.Contains(r.stdout, "listening") {
		t.Errorf("proxy started with a refused credential:\n%s", r.stdout)
	}
}
