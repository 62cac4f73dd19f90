package cli

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// failingWriter fails every write: a closed standard output.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) {
	return 0, errors.New("write /dev/stdout: broken pipe")
}

// TestExitCodesAsDocumented runs, for every row of the README's exit-status
// table, command lines that must exit with that code, and checks that the
// table, --help and the constants agree.
func TestExitCodesAsDocumented(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	skewed := ownFake(t)
	skewed.SetClockSkew(-2 * time.Hour)
	key := saKeyFile(t, f)
	user, _ := userFile(t, skewed)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	busyAddr := busy.Addr().String()
	down := closedPort(t)
	sample := f.SampleServiceURL()

	type row struct {
		name  string
		args  []string
		out   *failingWriter // standard output fails
		parts []string       // in the one-line error
	}
	// Tests talk only to loopback: no-such-host.example fails to resolve
	// in the client's dialer, as a name that does not exist fails in DNS.
	rows := map[int][]row{
		ExitOK: {{name: "token", args: []string{"print-access-token", "--credentials", key, "--no-cache"}}},
		ExitError: {{name: "standard output closed", args: []string{"print-access-token", "--credentials", key, "--no-cache"},
			out: &failingWriter{}, parts: []string{"write token", "broken pipe"}}},
		ExitUsage: {
			{name: "unknown flag", args: []string{"print-access-token", "--scoops", "x"}, parts: []string{"--scoops"}},
			{name: "several audiences", args: []string{"print-identity-token", "--credentials", key, "--audiences=a,b"}, parts: []string{`--audiences "a,b"`, "one audience"}},
		},
		ExitCredentials: {
			{name: "missing file", args: []string{"print-access-token", "--credentials", down[len("http://"):] + ".json"}, parts: []string{"--credentials"}},
			{name: "access token to verify", args: []string{"verify", "--audience", "a", "ya29.x"}, parts: []string{"gcptoken info"}},
		},
		ExitUnavailable: {
			{name: "token endpoint down", args: []string{"print-access-token", "--credentials", key, "--no-cache", "--token-url", down + "/token"}, parts: []string{down}},
			{name: "clock skew", args: []string{"print-identity-token", "--credentials", user, "--no-cache", "--audience", "https://svc.example"}, parts: []string{"check the clock"}},
		},
		ExitHTTP: {{name: "target answers 404", args: []string{"curl", "--credentials", key, "--no-cache", f.URL + "/no/such/path"}, parts: []string{"HTTP 404"}}},
		ExitTarget: {
			{name: "DNS failure", args: []string{"curl", "--credentials", key, "--no-cache", "--audience", "https://x.example", "https://no-such-host.example/"},
				parts: []string{`no such host "no-such-host.example"`, "check the URL's host name"}},
			{name: "connection refused", args: []string{"curl", "--credentials", key, "--no-cache", "--audience", "https://x.example", down + "/"},
				parts: []string{"connection refused", "is the service running"}},
		},
		ExitListen: {
			{name: "proxy", args: []string{"proxy", "--credentials", key, "--target", sample, "--listen", busyAddr},
				parts: []string{"--listen " + busyAddr, "address is in use"}},
			{name: "metadata server", args: []string{"metadata-server", "--credentials", key, "--listen", busyAddr},
				parts: []string{"--listen " + busyAddr, "address is in use"}},
			{name: "emulator", args: []string{"emulator", "--listen", busyAddr, "--state-dir", t.TempDir()},
				parts: []string{"emulator: --listen " + busyAddr, "address is in use"}},
		},
	}

	documented := readmeExitCodes(t)
	help := run(t, newEnv(t), "", "--help").stdout
	for code := ExitOK; code <= ExitListen; code++ {
		if documented[code] == "" {
			t.Errorf("exit status %d is not in the README's table", code)
		}
		if !regexp.MustCompile(`(?m)^  ` + strconv.Itoa(code) + `  \S`).MatchString(help) {
			t.Errorf("exit status %d is not in --help", code)
		}
		if len(rows[code]) == 0 {
			t.Errorf("no case for exit status %d (%s)", code, documented[code])
		}
	}
	for code := range documented {
		if code > ExitListen {
			t.Errorf("the README documents exit status %d, which gcptoken does not use", code)
		}
	}
	for code, cases := range rows {
		for _, c := range cases {
			t.Run(strconv.Itoa(code)+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				r := runWithOut(t, newEnv(t), c.out, c.args...)
				wantCode(t, r, code)
				if code != ExitOK {
					wantOneLineError(t, r, c.parts...)
				}
			})
		}
	}
}

// runWithOut is run with a standard output that fails when out is not
// nil, and an HTTP client to which no-such-host.example does not resolve.
func runWithOut(t *testing.T, e env, out *failingWriter, args ...string) result {
	t.Helper()
	var stdout, errb strings.Builder
	app := &App{Out: &stdout, Err: &errb, Getenv: func(k string) string { return e[k] }, HTTPClient: noSuchHostClient()}
	if out != nil {
		app.Out = out
	}
	code := Run(t.Context(), app, args)
	return result{code: code, stdout: stdout.String(), stderr: errb.String()}
}

// noSuchHostClient dials as usual but for no-such-host.example, which
// fails as a name DNS does not know.
func noSuchHostClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, _ := net.SplitHostPort(addr); host == "no-such-host.example" {
			return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
		}
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr}
}

// readmeExitCodes reads the README's exit-status table: code → meaning.
func readmeExitCodes(t *testing.T) map[int]string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "### Exit status")
	if !ok {
		t.Fatal("README.md has no ### Exit status section")
	}
	section, _, _ = strings.Cut(section, "\n#")
	out := map[int]string{}
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \| (.+) \|$`).FindAllStringSubmatch(section, -1) {
		code, _ := strconv.Atoi(m[1])
		out[code] = m[2]
	}
	return out
}

// TestTimeoutNamesTheEndpoint: a token endpoint that never answers ends
// with --timeout, in an error naming the endpoint, the attempt and what to
// do, and exit status 4; on a terminal a status line says what the
// command waits for meanwhile, and is erased.
func TestTimeoutNamesTheEndpoint(t *testing.T) {
	t.Parallel()
	f := ownFake(t)
	if err := f.AddFault(fakegoogle.Fault{Path: "/token", Hang: true}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e["GOOGLE_APPLICATION_CREDENTIALS"] = saKeyFile(t, f)
	var out, errb syncBuffer
	app := &App{Out: &out, Err: &errb, Getenv: func(k string) string { return e[k] },
		forceProgress: true, progressDelay: 300 * time.Millisecond}
	start := time.Now()
	code := Run(t.Context(), app, []string{"print-access-token", "--timeout", "1500ms"})
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("--timeout 1500ms took %s", elapsed)
	}
	if code != ExitUnavailable {
		t.Errorf("exit status %d; want %d", code, ExitUnavailable)
	}
	stderr := errb.String()
	status, final, _ := strings.Cut(stderr, "\rgcptoken: timed out")
	endpoint := f.URL + "/token"
	if !strings.Contains(status, "\rgcptoken: waiting for an access token from "+endpoint+" (attempt 1 of 3, ") {
		t.Errorf("no status line naming the endpoint and the attempt before the error:\n%q", stderr)
	}
	if !strings.HasSuffix(strings.TrimRight(status, " "), "\r") {
		t.Errorf("the status line was not erased before the error:\n%q", stderr)
	}
	for _, want := range []string{"after 1.5s (--timeout)", "waiting for an access token from " + endpoint, "(attempt 1 of 3)", "check that the endpoint is up", "raise --timeout"} {
		if !strings.Contains(final, want) {
			t.Errorf("timeout error %q lacks %q", final, want)
		}
	}
	if strings.Count(strings.TrimSpace(final), "\n") != 0 {
		t.Errorf("timeout error is more than one line: %q", final)
	}
}

// TestNoStatusLineWhenNotATerminal: without a terminal (a pipe, a file, a
// test) nothing but the error reaches stderr.
func TestNoStatusLineWhenNotATerminal(t *testing.T) {
	t.Parallel()
	f := ownFake(t)
	if err := f.AddFault(fakegoogle.Fault{Path: "/token", Hang: true}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	r := run(t, e, "", "print-access-token", "--credentials", saKeyFile(t, f), "--timeout", "2500ms")
	wantCode(t, r, ExitUnavailable)
	if strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "waiting for an access token from") && !strings.Contains(r.stderr, "timed out") {
		t.Errorf("status line without a terminal: %q", r.stderr)
	}
	wantOneLineError(t, r, "timed out after 2.5s (--timeout)")
}
