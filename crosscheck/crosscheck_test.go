package crosscheck_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// Scopes the tests ask for.
const (
	scopeCloudPlatform = "https://www.googleapis.com/auth/cloud-platform"
	scopeEmail         = "https://www.googleapis.com/auth/userinfo.email"
)

// userScopes are granted to the test user's refresh token: openid makes the
// refresh answer carry an ID token, userinfo.email puts the email in it.
var userScopes = []string{"openid", scopeEmail, scopeCloudPlatform}

// googleIssuer is the iss of every ID token the fake mints, as at Google.
const googleIssuer = "https://accounts.google.com"

// tokenLifetime is the fake's default; every peer must report an expiry
// about this far away.
const tokenLifetime = time.Hour

// peerTimeout bounds each peer subprocess (start-up included; Python and
// gcloud take about a second).
const peerTimeout = 60 * time.Second

// ---------------------------------------------------------------------------
// Fixture: the fake and the credential files peers read.

type fixture struct {
	fake      *fakegoogle.Running
	dir       string // t.TempDir(): credential files, HOME of every peer
	sa        *fakegoogle.ServiceAccount
	keyFile   string // service_account key of fakegoogle.DefaultServiceAccount
	keyJSON   []byte
	userFile  string // authorized_user file for fakegoogle.DefaultUser
	userJSON  []byte
	refresh   string // the refresh token in userFile
	sampleURL string // the protected sample service; ID tokens need it as aud
}

// newFixture starts fakegoogle on a loopback port and writes a service
// account key and an authorized_user file (both pointing at the fake) into a
// temporary directory. Everything is removed when the test ends.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	fake, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{Logger: fakeLogger(t), DevicePollInterval: time.Second})
	if err != nil {
		t.Fatalf("start fakegoogle: %v", err)
	}
	t.Cleanup(func() { fake.Close() })

	f := &fixture{fake: fake, dir: t.TempDir(), sampleURL: fake.SampleServiceURL()}
	sa, ok := fake.ServiceAccount(fakegoogle.DefaultServiceAccount)
	if !ok {
		t.Fatalf("fakegoogle has no default service account %q", fakegoogle.DefaultServiceAccount)
	}
	f.sa = sa
	if f.keyJSON, err = fake.ServiceAccountKeyJSON(sa.Email); err != nil {
		t.Fatalf("ServiceAccountKeyJSON: %v", err)
	}
	f.keyFile = f.write(t, "service-account.json", f.keyJSON)

	if f.refresh, err = fake.IssueRefreshToken(fakegoogle.DefaultClientID, fakegoogle.DefaultUser, userScopes); err != nil {
		t.Fatalf("IssueRefreshToken: %v", err)
	}
	if f.userJSON, err = fake.AuthorizedUserJSON(fakegoogle.DefaultClientID, f.refresh); err != nil {
		t.Fatalf("AuthorizedUserJSON: %v", err)
	}
	f.userFile = f.write(t, "authorized-user.json", f.userJSON)
	return f
}

// fakeLogger sends the fake's logs to the test log, and fails the test on
// a warning: the fake warns when a client calls something it does not model,
// which is exactly what this suite exists to find.
func fakeLogger(t *testing.T) *slog.Logger {
	h := slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})
	return slog.New(failOnWarn{h, t})
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log("fakegoogle: " + strings.TrimSpace(string(p)))
	return len(p), nil
}

type failOnWarn struct {
	slog.Handler
	t *testing.T
}

func (h failOnWarn) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.t.Errorf("fakegoogle warned (a peer used something the fake does not model): %s", r.Message)
	}
	return h.Handler.Handle(ctx, r)
}

func (h failOnWarn) WithAttrs(as []slog.Attr) slog.Handler {
	return failOnWarn{h.Handler.WithAttrs(as), h.t}
}

func (h failOnWarn) WithGroup(name string) slog.Handler {
	return failOnWarn{h.Handler.WithGroup(name), h.t}
}

func (f *fixture) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tokenRequests returns how many token-endpoint requests the fake has seen.
func (f *fixture) tokenRequests() int { return f.fake.RequestCount("/token") }

// ---------------------------------------------------------------------------
// Peers: discovery and the missing-peer rule.

// peer is an external client found on this machine, or the reason it is
// missing.
type peer struct {
	name    string
	path    string   // executable
	env     []string // extra environment it needs
	version string
	missing string // non-empty when the peer cannot be used
	install string // how to get it
}

// requirePeer is the one place that decides what a missing peer means: the
// test is skipped on a developer machine, but under CI=true it fails, so a
// CI run can never pass by quietly skipping every cross-check.
func requirePeer(t *testing.T, p peer) peer {
	t.Helper()
	if p.missing == "" {
		t.Logf("peer %s %s (%s)", p.name, p.version, p.path)
		return p
	}
	msg := fmt.Sprintf("peer %s unavailable: %s. To install: %s", p.name, p.missing, p.install)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a missing peer is a failure)", msg)
	}
	t.Skip(msg)
	return p
}

const installCloudSDK = "install the Google Cloud CLI (Debian: apt-get install google-cloud-cli, " +
	"from Google's apt repository), which bundles Python and google-auth 2.x"

// sdkRoots lists candidate Google Cloud CLI installation roots, best first.
func sdkRoots() []string {
	fallbacks := []string{"/usr/lib/google-cloud-sdk", "/usr/share/google-cloud-sdk"}
	if r := gcloudSDKRoot(); r != "" {
		return append([]string{r}, fallbacks...)
	}
	return fallbacks
}

// gcloudSDKRoot asks gcloud on PATH where it is installed, or returns "".
func gcloudSDKRoot() string {
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		return ""
	}
	// gcloud writes its config even for `info`: give it a scratch one.
	scratch, err := os.MkdirTemp("", "crosscheck-gcloud-info-")
	if err != nil {
		return ""
	}
	defer os.RemoveAll(scratch)
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, gcloud, "info", "--format=value(installation.sdk_root)")
	cmd.Env = peerEnv(scratch,
		"CLOUDSDK_CONFIG="+filepath.Join(scratch, "gcloud"),
		"CLOUDSDK_CORE_DISABLE_PROMPTS=1",
		"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1",
		"CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true")
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// pythonPeer finds the Python and google-auth 2.x bundled with the Google
// Cloud CLI. Debian's python3-google-auth (1.x) is too old to count.
var pythonPeer = sync.OnceValue(func() peer {
	p := peer{name: "python google-auth", install: installCloudSDK}
	var tried []string
	for _, root := range sdkRoots() {
		py := filepath.Join(root, "platform", "bundledpythonunix", "bin", "python3")
		tried = append(tried, py)
		if _, err := os.Stat(py); err != nil {
			continue
		}
		env := []string{"PYTHONPATH=" + filepath.Join(root, "lib", "third_party")}
		ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
		cmd := exec.CommandContext(ctx, py, "-c", "import google.auth; print(google.auth.__version__)")
		cmd.Env = peerEnv(os.TempDir(), append(env, pythonEnv...)...)
		out, err := cmd.Output()
		cancel()
		if err != nil {
			p.missing = fmt.Sprintf("%s cannot import google.auth from %s: %v", py, env[0], err)
			continue
		}
		v := strings.TrimSpace(string(out))
		if !strings.HasPrefix(v, "2.") {
			p.missing = fmt.Sprintf("google-auth bundled with %s is %s, not 2.x", root, v)
			continue
		}
		p.path, p.env, p.version, p.missing = py, env, v, ""
		return p
	}
	if p.missing == "" {
		p.missing = "no Cloud SDK bundled Python found (tried " + strings.Join(tried, ", ") + ")"
	}
	return p
})

// nodeModuleDir is where npm installs the Node peer's library.
const nodeModuleDir = "node/node_modules/google-auth-library"

// nodePeer finds node and the google-auth-library pinned in
// node/package-lock.json.
var nodePeer = sync.OnceValue(func() peer {
	p := peer{name: "node google-auth-library",
		install: "install Node.js (node >= 20) and run `make deps` (or `cd crosscheck/node && npm ci`)"}
	node, err := exec.LookPath("node")
	if err != nil {
		p.missing = "node is not on PATH"
		return p
	}
	var pkg struct{ Version string }
	data, err := os.ReadFile(filepath.Join(nodeModuleDir, "package.json"))
	if err == nil {
		err = json.Unmarshal(data, &pkg)
	}
	if err != nil {
		p.missing = "google-auth-library is not installed in crosscheck/node (" + err.Error() + ")"
		return p
	}
	p.path, p.version = node, pkg.Version
	return p
})

// gcloudPeer finds the gcloud CLI.
var gcloudPeer = sync.OnceValue(func() peer {
	p := peer{name: "gcloud", install: installCloudSDK}
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		p.missing = "gcloud is not on PATH"
		return p
	}
	p.path, p.version = gcloud, "(version unknown)"
	// bin/gcloud is usually a symlink into the SDK root, which has VERSION.
	if real, err := filepath.EvalSymlinks(gcloud); err == nil {
		if v, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(real)), "VERSION")); err == nil {
			p.version = strings.TrimSpace(string(v))
		}
	}
	return p
})

// ---------------------------------------------------------------------------
// Running peers.

// peerEnv is the complete environment of a peer process: nothing is
// inherited but PATH, so no GOOGLE_APPLICATION_CREDENTIALS, gcloud config,
// proxy or npm setting of the developer leaks in. Every metadata-server
// override points at a closed loopback port, so no library can probe
// 169.254.169.254 or resolve metadata.google.internal.
func peerEnv(home string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TMPDIR=" + home,
		"LANG=C.UTF-8",
		"GCE_METADATA_HOST=127.0.0.1:1", // Go, Python data calls, Node
		"GCE_METADATA_IP=127.0.0.1:1",   // Python's detection ping, Node
		"GCE_METADATA_ROOT=127.0.0.1:1", // gcloud's detection, old Python
		"NO_GCE_CHECK=true",             // Python: skip GCE detection
		// Node's getProjectId would otherwise spawn gcloud.
		"GOOGLE_CLOUD_PROJECT=" + fakegoogle.DefaultProjectID,
	}
	return append(env, extra...)
}

// pythonEnv keeps the Python peer from writing into the source tree or
// reading the user's site-packages.
var pythonEnv = []string{"PYTHONDONTWRITEBYTECODE=1", "PYTHONNOUSERSITE=1", "PYTHONIOENCODING=utf-8"}

// run runs a peer command with input as JSON on stdin, and returns its
// stdout. A failure or timeout fails the test with the peer's stderr.
func run(t *testing.T, dir string, env []string, input any, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), peerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	if input != nil {
		in, err := json.Marshal(input)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdin = bytes.NewReader(in)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("ran %s %s in %v", filepath.Base(name), strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %v\nstderr:\n%s", name, strings.Join(args, " "), peerTimeout, stderr.String())
	}
	if err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s\nstdout:\n%s", name, strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.Bytes()
}

// runPython runs python/<script> with the bundled google-auth.
func runPython(t *testing.T, f *fixture, p peer, script string, input any, extraEnv ...string) []byte {
	t.Helper()
	env := peerEnv(f.dir, append(append(slices.Clone(p.env), pythonEnv...), extraEnv...)...)
	return run(t, "python", env, input, p.path, script)
}

// runNode runs node/<script> with the pinned google-auth-library.
func runNode(t *testing.T, f *fixture, p peer, script string, input any) []byte {
	t.Helper()
	return run(t, "node", peerEnv(f.dir), input, p.path, script)
}

// decode unmarshals a peer's JSON output.
func decode[T any](t *testing.T, out []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("peer output is not the expected JSON: %v\n%s", err, out)
	}
	return v
}

// ---------------------------------------------------------------------------
// Checks shared by every peer.

// checkExpiry checks that a peer-reported expiry is about tokenLifetime
// away (allowing for the peer's start-up and clock rounding).
func checkExpiry(t *testing.T, what string, exp time.Time) {
	t.Helper()
	now := time.Now()
	lo, hi := now.Add(tokenLifetime-5*time.Minute), now.Add(tokenLifetime+time.Minute)
	if exp.Before(lo) || exp.After(hi) {
		t.Errorf("%s expiry = %v; want between %v and %v", what, exp.UTC(), lo.UTC(), hi.UTC())
	}
}

// parseRFC3339 parses an expiry printed by a Python peer.
func parseRFC3339(t *testing.T, what, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("%s expiry %q: %v", what, s, err)
	}
	return tm
}

// claims decodes a JWT's payload without verifying it; the fake's sample
// service and the peers' verifiers do the verifying.
func claims(t *testing.T, what, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("%s is not a compact JWT: %d segments", what, len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("%s payload: %v", what, err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatalf("%s claims: %v", what, err)
	}
	return c
}

// checkClaims compares the string claims of an ID token (or of a verified
// payload) with want, and checks exp is about tokenLifetime away.
func checkClaims(t *testing.T, what string, got map[string]any, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g, _ := got[k].(string); g != v {
			t.Errorf("%s claim %s = %v; want %q", what, k, got[k], v)
		}
	}
	exp, ok := got["exp"].(float64)
	if !ok {
		t.Errorf("%s claim exp = %v; want a number", what, got["exp"])
		return
	}
	checkExpiry(t, what+" exp", time.Unix(int64(exp), 0))
}

// saIDClaims are the claims every ID token for the sample service must have.
func (f *fixture) saIDClaims() map[string]string {
	return map[string]string{"aud": f.sampleURL, "iss": googleIssuer, "email": f.sa.Email, "sub": f.sa.UniqueID}
}

// userIDClaims are the claims of the test user's ID token from a refresh.
func (f *fixture) userIDClaims() map[string]string {
	u := f.fake.AddUser(fakegoogle.DefaultUser) // existing user: returns it
	return map[string]string{"aud": fakegoogle.DefaultClientID, "azp": fakegoogle.DefaultClientID,
		"iss": googleIssuer, "email": fakegoogle.DefaultUser, "sub": u.Subject}
}

// checkSAIDToken checks an ID token a peer obtained for the service account:
// its claims, and that the sample service accepts it.
func checkSAIDToken(t *testing.T, f *fixture, what, tok string) {
	t.Helper()
	if tok == "" {
		t.Fatalf("%s is empty", what)
	}
	checkClaims(t, what, claims(t, what, tok), f.saIDClaims())
	checkSampleService(t, f, what, tok)
}

// checkUserIDToken checks the ID token of a refresh: claims, and at_hash
// binds it to the access token of the same answer.
func checkUserIDToken(t *testing.T, f *fixture, what, idTok, accessTok string) {
	t.Helper()
	if idTok == "" {
		t.Fatalf("%s is empty; the refresh token has the openid scope", what)
	}
	c := claims(t, what, idTok)
	checkClaims(t, what, c, f.userIDClaims())
	sum := sha256.Sum256([]byte(accessTok))
	if want := base64.RawURLEncoding.EncodeToString(sum[:16]); c["at_hash"] != want {
		t.Errorf("%s at_hash = %v; want %q (from the access token)", what, c["at_hash"], want)
	}
}

// checkSampleService calls the protected sample service with the ID token
// (200, caller is the service account) and without it (401).
func checkSampleService(t *testing.T, f *fixture, what, idTok string) {
	t.Helper()
	checkSampleServiceCaller(t, f, what, idTok, f.sa.Email)
}

// checkSampleServiceCaller is checkSampleService for a token whose caller
// the service reports as wantCaller (the sub of a token without email).
func checkSampleServiceCaller(t *testing.T, f *fixture, what, idTok, wantCaller string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	call := func(auth string) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.sampleURL+"?start=1&end=3", nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("sample service: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode, string(body)
	}
	status, body := call("Bearer " + idTok)
	if status != http.StatusOK {
		t.Errorf("sample service with %s: status = %d; want 200; body: %s", what, status, body)
	} else {
		var got struct {
			Range  []int
			Caller string
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil || got.Caller != wantCaller || !slices.Equal(got.Range, []int{1, 2, 3}) {
			t.Errorf("sample service with %s: body = %s (err %v); want range [1 2 3] and caller %q", what, body, err, wantCaller)
		}
	}
	if status, body := call(""); status != http.StatusUnauthorized {
		t.Errorf("sample service without a token: status = %d; want 401; body: %s", status, body)
	}
}

// checkAccessTokenInfo asks the fake's tokeninfo about an access token, as
// Google's own system tests do, and checks who it was issued to.
func checkAccessTokenInfo(t *testing.T, f *fixture, what, tok, wantAud, wantScope string) {
	t.Helper()
	if tok == "" {
		t.Fatalf("%s is empty", what)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.fake.URL+"/oauth2/v3/tokeninfo?access_token="+url.QueryEscape(tok), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("tokeninfo for %s: %v", what, err)
	}
	defer resp.Body.Close()
	var info map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("tokeninfo for %s: status %d, decode error %v", what, resp.StatusCode, err)
	}
	if info["aud"] != wantAud || !slices.Contains(strings.Fields(info["scope"]), wantScope) {
		t.Errorf("tokeninfo for %s: aud = %q, scope = %q; want aud %q and scope %q", what, info["aud"], info["scope"], wantAud, wantScope)
	}
}

// ---------------------------------------------------------------------------
// Tokens minted by Go, for the peers' verifiers.

// mintSAIDToken gets an ID token for the sample service from the fake with
// golang.org/x/oauth2/jwt (a different client than any peer under test).
func mintSAIDToken(t *testing.T, f *fixture) string {
	t.Helper()
	cfg, err := google.JWTConfigFromJSON(f.keyJSON)
	if err != nil {
		t.Fatalf("JWTConfigFromJSON: %v", err)
	}
	cfg.PrivateClaims = map[string]any{"target_audience": f.sampleURL}
	cfg.UseIDToken = true
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	tok, err := cfg.TokenSource(ctx).Token()
	if err != nil {
		t.Fatalf("mint service-account ID token: %v", err)
	}
	return tok.AccessToken
}

// mintUserIDToken refreshes the test user's token with golang.org/x/oauth2
// and returns the ID token of the answer.
func mintUserIDToken(t *testing.T, f *fixture) string {
	t.Helper()
	cfg := &oauth2.Config{
		ClientID:     fakegoogle.DefaultClientID,
		ClientSecret: fakegoogle.DefaultClientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: f.fake.URL + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	tok, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: f.refresh}).Token()
	if err != nil {
		t.Fatalf("refresh user token: %v", err)
	}
	idTok, _ := tok.Extra("id_token").(string)
	if idTok == "" {
		t.Fatal("refresh answer has no id_token")
	}
	return idTok
}

// verifyInput is what the verify scripts read: tokens and the fake's
// certificate URLs.
type verifyInput struct {
	Base        string        `json:"base"`
	PEMCertsURL string        `json:"pem_certs_url"`
	JWKSURL     string        `json:"jwks_url"`
	Tokens      []verifyToken `json:"tokens"`
}

type verifyToken struct {
	Name     string `json:"name"`
	IDToken  string `json:"id_token"`
	Audience string `json:"audience"`
}

func (f *fixture) verifyInput(t *testing.T) verifyInput {
	return verifyInput{
		Base:        f.fake.URL,
		PEMCertsURL: f.fake.URL + "/oauth2/v1/certs",
		JWKSURL:     f.fake.URL + "/oauth2/v3/certs",
		Tokens: []verifyToken{
			{Name: "service_account", IDToken: mintSAIDToken(t, f), Audience: f.sampleURL},
			{Name: "user", IDToken: mintUserIDToken(t, f), Audience: fakegoogle.DefaultClientID},
		},
	}
}

// checkVerified checks the payloads a peer's verifier returned.
func checkVerified(t *testing.T, f *fixture, what string, got map[string]map[string]any) {
	t.Helper()
	sa, user := got["service_account"], got["user"]
	if sa == nil || user == nil {
		t.Fatalf("%s: verified = %v; want payloads for service_account and user", what, got)
	}
	checkClaims(t, what+" service_account", sa, f.saIDClaims())
	checkClaims(t, what+" user", user, f.userIDClaims())
}

// ---------------------------------------------------------------------------
// Python google-auth 2.x.

func TestPythonGoogleAuth(t *testing.T) {
	p := requirePeer(t, pythonPeer())
	f := newFixture(t)

	t.Run("service_account_access_token", func(t *testing.T) {
		before := f.tokenRequests()
		out := decode[struct {
			Token     string
			Expiry    string
			Tokeninfo map[string]string
		}](t, runPython(t, f, p, "sa_access_token.py", map[string]any{
			"key_file": f.keyFile, "scopes": []string{scopeCloudPlatform},
			"tokeninfo_url": f.fake.URL + "/oauth2/v3/tokeninfo",
		}))
		if f.tokenRequests() == before {
			t.Error("the fake saw no token request")
		}
		if out.Token == "" {
			t.Fatal("token is empty")
		}
		checkExpiry(t, "access token", parseRFC3339(t, "access token", out.Expiry))
		// Python's tokeninfo call, by Python's transport.
		if out.Tokeninfo["aud"] != f.sa.UniqueID || out.Tokeninfo["scope"] != scopeCloudPlatform {
			t.Errorf("tokeninfo = %v; want aud %q and scope %q", out.Tokeninfo, f.sa.UniqueID, scopeCloudPlatform)
		}
		if n, err := strconv.Atoi(out.Tokeninfo["expires_in"]); err != nil || n <= 0 || n > 3600 {
			t.Errorf("tokeninfo expires_in = %q; want a number string in (0, 3600]", out.Tokeninfo["expires_in"])
		}
	})

	t.Run("service_account_id_token", func(t *testing.T) {
		out := decode[struct {
			IDToken      string `json:"id_token"`
			Expiry       string
			FetchIDToken string `json:"fetch_id_token"`
			Tokeninfo    map[string]string
		}](t, runPython(t, f, p, "sa_id_token.py",
			map[string]any{"key_file": f.keyFile, "audience": f.sampleURL, "tokeninfo_url": f.fake.URL + "/oauth2/v3/tokeninfo"},
			// For fetch_id_token only: ADC's documented way to name the key.
			"GOOGLE_APPLICATION_CREDENTIALS="+f.keyFile))
		checkSAIDToken(t, f, "IDTokenCredentials token", out.IDToken)
		// google-auth takes the expiry from the token's exp.
		checkExpiry(t, "IDTokenCredentials", parseRFC3339(t, "IDTokenCredentials", out.Expiry))
		checkSAIDToken(t, f, "fetch_id_token token", out.FetchIDToken)
		// tokeninfo echoes the claims as strings (email_verified "true").
		ti := out.Tokeninfo
		if ti["aud"] != f.sampleURL || ti["email"] != f.sa.Email || ti["email_verified"] != "true" || ti["alg"] != "RS256" {
			t.Errorf("tokeninfo = %v; want aud %q, email %q, email_verified \"true\", alg RS256", ti, f.sampleURL, f.sa.Email)
		}
	})

	t.Run("authorized_user_refresh", func(t *testing.T) {
		out := decode[struct {
			Token         string
			Expiry        string
			IDToken       string   `json:"id_token"`
			GrantedScopes []string `json:"granted_scopes"`
		}](t, runPython(t, f, p, "user_refresh.py", map[string]any{
			"authorized_user_file": f.userFile, "token_uri": f.fake.URL + "/token", "scopes": userScopes,
		}))
		checkAccessTokenInfo(t, f, "access token", out.Token, fakegoogle.DefaultClientID, scopeCloudPlatform)
		checkExpiry(t, "access token", parseRFC3339(t, "access token", out.Expiry))
		checkUserIDToken(t, f, "id_token", out.IDToken, out.Token)
		if !slices.Equal(out.GrantedScopes, userScopes) {
			t.Errorf("granted_scopes = %q; want %q", out.GrantedScopes, userScopes)
		}
	})

	t.Run("verify_token", func(t *testing.T) {
		out := decode[struct {
			PEM              map[string]map[string]any `json:"pem"`
			JWKS             map[string]json.RawMessage
			JWKSViaJWTDecode map[string]map[string]any `json:"jwks_via_jwt_decode"`
		}](t, runPython(t, f, p, "verify_id_token.py", f.verifyInput(t)))
		checkVerified(t, f, "verify_token with /oauth2/v1/certs (PEM)", out.PEM)
		checkVerified(t, f, "google.auth.jwt.decode with /oauth2/v3/certs (JWKS)", out.JWKSViaJWTDecode)
		if skipped, ok := out.JWKS["skipped"]; ok {
			t.Logf("verify_token with /oauth2/v3/certs (JWKS) not run: %s", skipped)
		} else {
			jwks := map[string]map[string]any{}
			for k, v := range out.JWKS {
				jwks[k] = decode[map[string]any](t, v)
			}
			checkVerified(t, f, "verify_token with /oauth2/v3/certs (JWKS)", jwks)
		}
	})
}

// ---------------------------------------------------------------------------
// Node google-auth-library.

func TestNodeGoogleAuthLibrary(t *testing.T) {
	p := requirePeer(t, nodePeer())
	f := newFixture(t)

	t.Run("oauth2client_refresh", func(t *testing.T) {
		out := decode[struct {
			Token      string
			ExpiryDate int64  `json:"expiry_date"`
			IDToken    string `json:"id_token"`
			Scope      string
			Tokeninfo  struct {
				Aud        string
				Email      string
				Scopes     []string
				AccessType string `json:"access_type"`
				ExpiryDate int64  `json:"expiry_date"`
			}
		}](t, runNode(t, f, p, "user_refresh.js", map[string]any{
			"base": f.fake.URL, "client_id": fakegoogle.DefaultClientID,
			"client_secret": fakegoogle.DefaultClientSecret, "refresh_token": f.refresh,
		}))
		if out.Token == "" {
			t.Fatal("token is empty")
		}
		checkExpiry(t, "access token", time.UnixMilli(out.ExpiryDate))
		checkUserIDToken(t, f, "id_token", out.IDToken, out.Token)
		if out.Scope != strings.Join(userScopes, " ") {
			t.Errorf("scope = %q; want %q", out.Scope, strings.Join(userScopes, " "))
		}
		ti := out.Tokeninfo
		if ti.Aud != fakegoogle.DefaultClientID || ti.Email != fakegoogle.DefaultUser ||
			!slices.Equal(ti.Scopes, userScopes) || ti.AccessType != "offline" {
			t.Errorf("getTokenInfo = %+v; want aud %q, email %q, scopes %q, access_type offline",
				ti, fakegoogle.DefaultClientID, fakegoogle.DefaultUser, userScopes)
		}
		checkExpiry(t, "getTokenInfo", time.UnixMilli(ti.ExpiryDate))
	})

	t.Run("verify_id_token", func(t *testing.T) {
		out := decode[struct {
			Verified    map[string]map[string]any
			CertFetches int `json:"cert_fetches"`
		}](t, runNode(t, f, p, "verify_id_token.js", f.verifyInput(t)))
		checkVerified(t, f, "verifyIdToken", out.Verified)
		if out.CertFetches != 1 {
			t.Errorf("certificate fetches = %d; want 1 (the fake's Cache-Control max-age should be honoured)", out.CertFetches)
		}
	})

	t.Run("service_account_jwt", func(t *testing.T) {
		before := f.tokenRequests()
		out := decode[struct {
			Token      string
			ExpiryDate int64 `json:"expiry_date"`
			Tokeninfo  struct {
				Aud    string
				Scopes []string
			}
			IDToken   string `json:"id_token"`
			Redirects []struct{ From, To string }
		}](t, runNode(t, f, p, "service_account.js", map[string]any{
			"base": f.fake.URL, "key_file": f.keyFile, "scopes": []string{scopeCloudPlatform}, "audience": f.sampleURL,
		}))
		// The library asked for Google's URL (it ignores token_uri); only the
		// interceptor sent it to the fake.
		if len(out.Redirects) != 2 {
			t.Errorf("redirects = %+v; want two (access token, ID token)", out.Redirects)
		}
		for _, r := range out.Redirects {
			if r.From != "https://oauth2.googleapis.com/token" || r.To != f.fake.URL+"/token" {
				t.Errorf("redirect %+v; want https://oauth2.googleapis.com/token -> %s/token", r, f.fake.URL)
			}
		}
		if got := f.tokenRequests() - before; got != 2 {
			t.Errorf("token requests seen by the fake = %d; want 2", got)
		}
		if out.Token == "" {
			t.Fatal("token is empty")
		}
		checkExpiry(t, "access token", time.UnixMilli(out.ExpiryDate))
		if out.Tokeninfo.Aud != f.sa.UniqueID || !slices.Equal(out.Tokeninfo.Scopes, []string{scopeCloudPlatform}) {
			t.Errorf("getTokenInfo = %+v; want aud %q and scopes [%s]", out.Tokeninfo, f.sa.UniqueID, scopeCloudPlatform)
		}
		checkSAIDToken(t, f, "fetchIdToken token", out.IDToken)
	})
}

// ---------------------------------------------------------------------------
// gcloud CLI.

func TestGcloud(t *testing.T) {
	p := requirePeer(t, gcloudPeer())
	f := newFixture(t)
	env := peerEnv(f.dir,
		"CLOUDSDK_CONFIG="+filepath.Join(f.dir, "gcloud"),
		"CLOUDSDK_CORE_DISABLE_PROMPTS=1",
		// gcloud also honours the key's token_uri; the property makes sure
		// no grant can go to Google even if that changes.
		"CLOUDSDK_AUTH_TOKEN_HOST="+f.fake.URL+"/token",
		"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1",
		"CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
	)
	gcloud := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(string(run(t, f.dir, env, nil, p.path, append(args, "--verbosity=error")...)))
	}

	before := f.tokenRequests()
	gcloud("auth", "activate-service-account", "--key-file="+f.keyFile)
	if f.tokenRequests() == before {
		t.Error("activate-service-account: the fake saw no token request")
	}

	tok := gcloud("auth", "print-access-token")
	checkAccessTokenInfo(t, f, "print-access-token", tok, f.sa.UniqueID, scopeCloudPlatform)

	idTok := gcloud("auth", "print-identity-token", "--audiences="+f.sampleURL)
	checkSAIDToken(t, f, "print-identity-token", idTok)
}

// ---------------------------------------------------------------------------
// Go: golang.org/x/oauth2, in process (cloud.google.com/go/auth: goauth_test.go).

// goLibContext bounds a Go library test and keeps the libraries away from
// the real metadata server even if a code path were to probe it.
func goLibContext(t *testing.T) context.Context {
	t.Setenv("GCE_METADATA_HOST", "127.0.0.1:1")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGoXOAuth2(t *testing.T) {
	ctx := goLibContext(t)
	f := newFixture(t)

	t.Run("authorized_user_token_uri", func(t *testing.T) {
		// x/oauth2 honours the authorized_user file's token_uri.
		creds, err := google.CredentialsFromJSONWithType(ctx, f.userJSON, google.AuthorizedUser, scopeCloudPlatform)
		if err != nil {
			t.Fatalf("CredentialsFromJSONWithType: %v", err)
		}
		before := f.tokenRequests()
		tok, err := creds.TokenSource.Token()
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		if f.tokenRequests() == before {
			t.Error("the fake saw no token request")
		}
		checkAccessTokenInfo(t, f, "access token", tok.AccessToken, fakegoogle.DefaultClientID, scopeCloudPlatform)
		checkExpiry(t, "access token", tok.Expiry)
		idTok, _ := tok.Extra("id_token").(string)
		checkUserIDToken(t, f, "id_token", idTok, tok.AccessToken)
	})

	t.Run("service_account", func(t *testing.T) {
		creds, err := google.CredentialsFromJSONWithType(ctx, f.keyJSON, google.ServiceAccount, scopeCloudPlatform)
		if err != nil {
			t.Fatalf("CredentialsFromJSONWithType: %v", err)
		}
		tok, err := creds.TokenSource.Token()
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		checkAccessTokenInfo(t, f, "access token", tok.AccessToken, f.sa.UniqueID, scopeCloudPlatform)
		checkExpiry(t, "access token", tok.Expiry)
	})

	t.Run("jwt_id_token", func(t *testing.T) {
		checkSAIDToken(t, f, "x/oauth2/jwt ID token", mintSAIDToken(t, f))
	})
}
