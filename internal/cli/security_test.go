package cli

// Security regression tests (docs/security.md): each names the attack it
// stops. Run them all with `go test -run Security ./...`.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // writes the hostile credentials.db

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
)

// terminalControls are characters that act on a terminal: none may reach
// stdout or stderr from outside.
const terminalControls = "\x1b\x07\x9b\u009b\u202e\u2028"

// runApp runs one command line with app's streams and client, giving up
// (and failing) if it has not returned within limit; ctx is what the
// command sees.
func runApp(t *testing.T, ctx context.Context, e env, app *App, limit time.Duration, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	app.Out, app.Err, app.Getenv = &out, &errb, func(k string) string { return e[k] }
	start := time.Now()
	done := make(chan int, 1)
	go func() { done <- Run(ctx, app, args) }()
	select {
	case code := <-done:
		return result{code: code, stdout: out.String(), stderr: errb.String(), duration: time.Since(start)}
	case <-time.After(limit):
		t.Fatalf("gcptoken %v still blocked after %v", args, limit)
	}
	return result{}
}

// TestSecurityPrintedTokenCannotInject: a token (or token type) from a
// hostile server carries a command substitution, quotes, a newline or a
// terminal escape. `eval "$(gcptoken print-access-token --format env)"`
// must run nothing but the exports, `--format header` must stay one line,
// and nothing printed may hold a control character. The printer refuses
// malformed tokens, and quotes what it prints for eval as well.
func TestSecurityPrintedTokenCannotInject(t *testing.T) {
	t.Parallel()
	bash := requireTool(t, "bash", "apt-get install bash")
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	creds := &credentials.Credentials{Type: credentials.TypeServiceAccount}
	hostile := []*gcptoken.Token{
		{Value: "$(touch " + marker + ")", Kind: gcptoken.AccessToken},
		{Value: "`touch " + marker + "`", Kind: gcptoken.IDToken},
		{Value: "ya29.x; touch " + marker, Kind: gcptoken.AccessToken},
		{Value: "ya29.x'; touch " + marker + "; '", Kind: gcptoken.AccessToken},
		{Value: "ya29.x\ntouch " + marker, Kind: gcptoken.AccessToken},
		{Value: "ya29.x\r\nX-Injected: 1", Kind: gcptoken.AccessToken},
		{Value: "ya29.x\x1b]0;owned\x07", Kind: gcptoken.AccessToken},
		{Value: "ya29.x", Type: "Bearer\ntouch " + marker, Kind: gcptoken.AccessToken},
	}
	for _, tok := range hostile {
		for _, format := range []string{"text", "header", "env", "json"} {
			var out bytes.Buffer
			err := writeToken(&out, format, shellPOSIX, tok, creds, credentials.TokenRequest{}, time.Now())
			printed := out.String()
			if strings.ContainsAny(printed, terminalControls) {
				t.Errorf("--format %s of %q printed control characters: %q", format, tok.Value, printed)
			}
			if (format == "text" || format == "header") && strings.Count(printed, "\n") > 1 {
				t.Errorf("--format %s of %q printed %d lines: %q", format, tok.Value, strings.Count(printed, "\n"), printed)
			}
			if format == "env" && printed != "" {
				cmd := exec.Command(bash, "-c", `eval "$1"`, "bash", printed)
				cmd.Dir = dir
				cmd.Run()
				if _, statErr := os.Stat(marker); statErr == nil {
					t.Errorf("eval of --format env for %q ran a command: %q", tok.Value, printed)
					os.Remove(marker)
				}
			}
			if err == nil && printed != "" && gcptoken.CheckTokenValue(tok.Value) != nil {
				t.Errorf("--format %s printed the malformed token %q: %q", format, tok.Value, printed)
			}
		}
	}
}

// curlTestNetwork routes the test's made-up host names to two local
// servers, one TLS (for https) and one plain (for http), whatever the port
// in the URL: so that https://example.com:8443 and http://example.com:8443
// are the same host and port with different schemes. Every other address
// (the fake token endpoint on loopback) is dialled as it is.
type curlTestNetwork struct {
	tlsSrv, plainSrv *httptest.Server
	mu               sync.Mutex
	auth             map[string]string // "scheme://host/path" → Authorization received
}

func newCurlTestNetwork(t *testing.T) *curlTestNetwork {
	n := &curlTestNetwork{auth: map[string]string{}}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		n.mu.Lock()
		n.auth[scheme+"://"+r.Host+r.URL.Path] = r.Header.Get("Authorization")
		n.mu.Unlock()
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		io.WriteString(w, "ok\n")
	})
	n.tlsSrv = httptest.NewTLSServer(handler)
	n.plainSrv = httptest.NewServer(handler)
	t.Cleanup(n.tlsSrv.Close)
	t.Cleanup(n.plainSrv.Close)
	return n
}

// routed reports whether addr is one of the made-up hosts.
func routed(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	return host == "example.com" || host == "evil.example" || strings.HasSuffix(host, ".googleapis.com")
}

func (n *curlTestNetwork) client() *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(n.tlsSrv.Certificate())
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if routed(addr) {
				addr = n.plainSrv.Listener.Addr().String()
			}
			return d.DialContext(ctx, network, addr)
		},
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if !routed(addr) {
				return nil, fmt.Errorf("the test routes no TLS to %s", addr)
			}
			conn, err := d.DialContext(ctx, network, n.tlsSrv.Listener.Addr().String())
			if err != nil {
				return nil, err
			}
			// The test certificate names example.com: every made-up host
			// is verified as that name.
			tc := tls.Client(conn, &tls.Config{RootCAs: roots, ServerName: "example.com"})
			return tc, tc.HandshakeContext(ctx)
		},
	}}
}

func (n *curlTestNetwork) authAt(url string) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a, ok := n.auth[url]
	return a, ok
}

// TestSecurityCurlRedirectKeepsToken: with -L, a server answers with a
// redirect to plain http on the same host and port (a downgrade anyone on
// the path can read), to another port, to another host, or away and back.
// The token goes again only to the scheme, host and port the user named.
func TestSecurityCurlRedirectKeepsToken(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	key := saKeyFile(t, f)
	n := newCurlTestNetwork(t)
	const origin = "https://example.com:8443"
	tests := []struct {
		name     string
		to       string // where the first URL redirects
		landed   string // where the chain ends
		wantAuth bool
	}{
		{"same origin", origin + "/landed", origin + "/landed", true},
		{"https to http, same host and port", "http://example.com:8443/landed", "http://example.com:8443/landed", false},
		{"another port", "https://example.com:9443/landed", "https://example.com:9443/landed", false},
		{"another host", "https://evil.example:8443/landed", "https://evil.example:8443/landed", false},
		{"away and back", "https://example.com:9443/hop?to=" + origin + "/back", origin + "/back", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app := &App{HTTPClient: n.client()}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			first := origin + "/start-" + strings.ReplaceAll(tt.name, " ", "-")
			r := runApp(t, ctx, newEnv(t), app, time.Minute, "curl", "-L", "--no-cache", "--credentials", key,
				"--audience", origin, first+"?to="+tt.to)
			wantCode(t, r, ExitOK)
			if a, _ := n.authAt(first); !strings.HasPrefix(a, "Bearer ey") {
				t.Fatalf("the URL named got Authorization %q; want the ID token", a)
			}
			a, ok := n.authAt(tt.landed)
			switch {
			case !ok:
				t.Fatalf("the chain never reached %s", tt.landed)
			case tt.wantAuth && a == "":
				t.Errorf("%s got no token; the same origin should", tt.landed)
			case !tt.wantAuth && a != "":
				t.Errorf("%s got Authorization %.20q…; a redirect there must drop the token", tt.landed, a)
			}
		})
	}
}

// TestSecurityCurlAccessTokenOnlyToAllowedHosts: `gcptoken curl` of a URL
// someone pasted (or that a script built from input) would send an access
// token, which opens every Google API the credential can use, to any host.
// It goes only where the transport package would send one: Google APIs,
// loopback, and hosts named with --allow-host; over https.
func TestSecurityCurlAccessTokenOnlyToAllowedHosts(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	key := saKeyFile(t, f)
	n := newCurlTestNetwork(t)
	tests := []struct {
		name     string
		args     []string
		url      string
		wantCode int
		wantAuth bool
		wantErr  string
	}{
		{"unknown host", nil, "https://evil.example/steal", ExitUsage, false, "--allow-host evil.example"},
		{"plain http to a Google API", nil, "http://storage.googleapis.com/plain", ExitUsage, false, "only over https"},
		{"plain http to an allowed host", []string{"--allow-host", "evil.example"}, "http://evil.example/plain", ExitUsage, false, "only over https"},
		{"Google API", nil, "https://storage.googleapis.com/b", ExitOK, true, ""},
		{"host named by --allow-host", []string{"--allow-host", "evil.example"}, "https://evil.example/allowed", ExitOK, true, ""},
		{"--allow-host for another port", []string{"--allow-host", "evil.example:9443"}, "https://evil.example/port", ExitUsage, false, "--allow-host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app := &App{HTTPClient: n.client()}
			args := append([]string{"curl", "--credentials", key}, tt.args...)
			r := runApp(t, t.Context(), newEnv(t), app, time.Minute, append(args, tt.url)...)
			wantCode(t, r, tt.wantCode)
			if tt.wantCode != ExitOK {
				wantOneLineError(t, r, tt.wantErr)
			}
			a, _ := n.authAt(tt.url)
			if tt.wantAuth != (a != "") {
				t.Errorf("%s got Authorization %.20q; want a token: %v", tt.url, a, tt.wantAuth)
			}
		})
	}
}

// TestSecurityReadsEndWithContext: a path or stream the command reads is a
// FIFO that no one opens for writing, or a pipe whose writer never writes.
// Every read ends when the command's context does (SIGINT, SIGTERM, a
// deadline), with a one-line error, instead of hanging forever.
func TestSecurityReadsEndWithContext(t *testing.T) {
	t.Parallel()
	// One FIFO per case: giving up on one wakes every reader blocked in
	// its open.
	f := startFake(t)
	key := saKeyFile(t, f)
	tests := []struct {
		name     string
		env      map[string]string
		stdin    bool // a pipe that never delivers
		args     []string
		wantCode int
	}{
		{"--credentials", nil, false, []string{"print-access-token", "--credentials", fifo(t)}, ExitCredentials},
		{"GOOGLE_APPLICATION_CREDENTIALS", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": fifo(t)}, false, []string{"print-access-token"}, ExitCredentials},
		{"--access-boundary", nil, false, []string{"print-access-token", "--no-cache", "--credentials", key, "--access-boundary", fifo(t)}, ExitUsage},
		{"curl -d @FILE", nil, false, []string{"curl", "--credentials", key, "-d", "@" + fifo(t), f.URL}, ExitUsage},
		{"curl -d @-", nil, true, []string{"curl", "--credentials", key, "-d", "@-", f.URL}, ExitUsage},
		{"info -", nil, true, []string{"info", "-"}, ExitUsage},
		{"verify -", nil, true, []string{"verify", "--audience", "a", "-"}, ExitUsage},
		{"login --client-id-file", nil, false, []string{"login", "--client-id-file", fifo(t)}, ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			for k, v := range tt.env {
				e[k] = v
			}
			app := &App{In: strings.NewReader("")}
			if tt.stdin {
				r, w := io.Pipe()
				t.Cleanup(func() { w.Close() })
				app.In = r
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			r := runApp(t, ctx, e, app, 10*time.Second, tt.args...)
			wantCode(t, r, tt.wantCode)
			wantOneLineError(t, r, "deadline exceeded")
		})
	}
}

// TestSecuritySignalEndsBlockedRead: the same blocked reads, in a real
// gcptoken process: SIGINT ends them (the read is interrupted, not merely
// abandoned by a caller that goes away).
func TestSecuritySignalEndsBlockedRead(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("SIGINT cannot be sent to a process on Windows")
	}
	p := fifo(t)
	tests := []struct {
		name  string
		args  []string
		stdin bool
	}{
		{"--credentials FIFO", []string{"print-access-token", "--credentials", p}, false},
		{"info from a silent pipe", []string{"info"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(selfExe(t), tt.args...)
			cmd.Env = processEnv(newEnv(t))
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if tt.stdin {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close() // held open, never written
				cmd.Stdin = r
				defer r.Close()
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			time.Sleep(500 * time.Millisecond)
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("gcptoken %v still running 10s after SIGINT", tt.args)
			}
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			if !strings.HasPrefix(lines[0], "gcptoken: ") || !strings.Contains(lines[0], "stopped reading: interrupt") {
				t.Errorf("stderr %q; want one line saying the read was stopped", errb.String())
			}
		})
	}
}

// jwtWith returns an unsigned-looking JWT with header and claims.
func jwtWith(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims) + ".c2ln"
}

// hostileText holds what a token's author can put in a claim to act on the
// reader's terminal: retitle the window, clear the screen, reverse text, a
// C1 CSI, and a line that forges gcptoken's own output.
const hostileText = "x\x1b]0;owned\x07\x1b[2J\u202eevil\u009b31m\nExpires: never (trust me)"

// TestSecurityInfoEscapesClaims: `gcptoken info` shows a token someone sent
// (a JWT's header and claims, or what tokeninfo says about an opaque
// token). Their author chooses every character; none may act on the
// terminal, in text or JSON output.
func TestSecurityInfoEscapesClaims(t *testing.T) {
	t.Parallel()
	jwt := jwtWith(t, map[string]any{"alg": "RS256", "kid": hostileText, hostileText: 1},
		map[string]any{"iss": "https://accounts.google.com", "aud": hostileText, "sub": hostileText,
			"exp": time.Now().Add(time.Hour).Unix(), "nested": map[string]any{"k": hostileText}})
	tokeninfo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"email": hostileText, "scope": hostileText, hostileText: "v", "expires_in": 3599})
	}))
	defer tokeninfo.Close()
	e := newEnv(t)
	e[envTokenInfoURL] = tokeninfo.URL
	for _, tok := range []string{jwt, "ya29.opaque"} {
		for _, format := range []string{"text", "json"} {
			r := run(t, e, "", "info", "--format", format, tok)
			wantCode(t, r, ExitOK)
			if strings.ContainsAny(r.stdout+r.stderr, terminalControls) {
				t.Errorf("info --format %s of %.10s… printed control characters:\n%q", format, tok, r.stdout)
			}
			if format == "text" && strings.Contains(r.stdout, "\nExpires: never (trust me)") {
				t.Errorf("info --format text let a claim forge a line:\n%s", r.stdout)
			}
			if format == "json" && !json.Valid([]byte(r.stdout)) {
				t.Errorf("info --format json is not JSON after escaping:\n%s", r.stdout)
			}
		}
	}
}

// signedJWKS serves a key set with one RSA key and returns its URL and a
// function that signs claims with the key.
func signedJWKS(t *testing.T) (string, func(claims map[string]any) string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks := map[string]any{"keys": []map[string]any{{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jwks)
	}))
	t.Cleanup(srv.Close)
	sign := func(claims map[string]any) string {
		unsigned := strings.TrimSuffix(jwtWith(t, map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT"}, claims), ".c2ln")
		sum := sha256.Sum256([]byte(unsigned))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return unsigned + "." + b64(sig)
	}
	return srv.URL, sign
}

// TestSecurityVerifyEscapesClaims: `gcptoken verify` with --certs-url
// trusts whatever key that URL serves, so a "verified" token's subject,
// email and audience are its author's words; and a rejected token's reason
// quotes its claims. Neither may act on the terminal.
func TestSecurityVerifyEscapesClaims(t *testing.T) {
	t.Parallel()
	certs, sign := signedJWKS(t)
	now := time.Now()
	claims := map[string]any{"iss": "https://accounts.google.com", "aud": "https://svc.example", "sub": hostileText,
		"email": hostileText + "@example.com", "email_verified": true, "azp": hostileText,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	tok := sign(claims)
	claims["aud"] = hostileText
	wrongAud := sign(claims)
	e := newEnv(t)
	for _, tt := range []struct {
		name string
		args []string
		code int
	}{
		{"verified, text", []string{"verify", tok, "--audience", "https://svc.example", "--certs-url", certs}, ExitOK},
		{"verified, json", []string{"verify", tok, "--audience", "https://svc.example", "--certs-url", certs, "--format", "json"}, ExitOK},
		{"rejected for its email", []string{"verify", tok, "--audience", "https://svc.example", "--certs-url", certs, "--allowed-email", "a@b.c"}, ExitCredentials},
		{"rejected for its audience", []string{"verify", wrongAud, "--audience", "https://svc.example", "--certs-url", certs}, ExitCredentials},
	} {
		r := run(t, e, "", tt.args...)
		wantCode(t, r, tt.code)
		if strings.ContainsAny(r.stdout+r.stderr, terminalControls) {
			t.Errorf("%s: printed control characters:\nstdout %q\nstderr %q", tt.name, r.stdout, r.stderr)
		}
		if tt.code != ExitOK {
			wantOneLineError(t, r, "rejected")
		}
	}
}

// TestSecurityTokenEndpointErrorEscaped: a hostile token endpoint refuses
// with an error_description full of terminal escapes and a forged line.
// The CLI's error is one line, escaped.
func TestSecurityTokenEndpointErrorEscaped(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	key := saKeyFile(t, f)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"error": "invalid_grant" + hostileText, "error_description": hostileText})
	}))
	defer evil.Close()
	r := run(t, newEnv(t), "", "print-access-token", "--no-cache", "--credentials", key, "--token-url", evil.URL+"/token")
	wantCode(t, r, ExitCredentials)
	wantOneLineError(t, r, "invalid_grant")
	if strings.ContainsAny(r.stderr, terminalControls) {
		t.Errorf("stderr holds the server's control characters: %q", r.stderr)
	}
}

// TestSecurityStatusEscapesGcloudStore: `gcptoken status` prints account
// names and types read from gcloud's credentials.db and properties read
// from its configuration. A store or configuration with terminal control
// sequences in them (copied from elsewhere, or planted) must not drive
// the terminal that shows the listing.
func TestSecurityStatusEscapesGcloudStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, "credentials.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const evil = "\x1b]0;pwned\x07\x1b[2J"
	for _, q := range []string{
		`CREATE TABLE "credentials" (account_id TEXT PRIMARY KEY, value BLOB)`,
		`INSERT INTO "credentials" VALUES ('me` + evil + `@example.com', '{"type": "authorized_user` + evil + `"}')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t)
	e["CLOUDSDK_CONFIG"] = dir
	e["CLOUDSDK_CORE_ACCOUNT"] = "me" + evil + "@example.com"
	e["CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT"] = "sa" + evil + "@p.iam.gserviceaccount.com"
	e["NO_GCE_CHECK"] = "true"
	r := run(t, e, "", "status")
	wantCode(t, r, 0)
	if strings.ContainsAny(r.stdout+r.stderr, terminalControls) {
		t.Errorf("status printed control characters from gcloud's files:\n%q", r.stdout)
	}
	if !strings.Contains(r.stdout, "me") || !strings.Contains(r.stdout, "@example.com") {
		t.Errorf("status lost the account:\n%s", r.stdout)
	}
}
