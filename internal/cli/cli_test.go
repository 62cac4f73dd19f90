package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/jwtinfo"
)

// sharedFake is one fake Google for the whole package: starting one costs
// RSA key generation.
var sharedFake = sync.OnceValues(func() (*fakegoogle.Running, error) {
	return fakegoogle.Start("127.0.0.1:0", nil)
})

// ownFake starts a fake for one test, for tests that count requests.
func ownFake(t *testing.T) *fakegoogle.Running {
	t.Helper()
	f, err := fakegoogle.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatalf("start fake Google: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func startFake(t *testing.T) *fakegoogle.Running {
	t.Helper()
	f, err := sharedFake()
	if err != nil {
		t.Fatalf("start fake Google: %v", err)
	}
	return f
}

// env is a test's environment: a private HOME and cache directory, nothing
// inherited from the machine.
type env map[string]string

func newEnv(t *testing.T) env {
	t.Helper()
	home := t.TempDir()
	return env{
		"HOME": home,
		// Windows' homes: docker's (and, without HOME, kubectl's and
		// git's) and gcloud's configuration directory.
		"USERPROFILE":        home,
		"APPDATA":            filepath.Join(home, "AppData", "Roaming"),
		"GCPTOKEN_CACHE_DIR": filepath.Join(home, "cache"),
		// Nothing listens here: ADC must not find a metadata server.
		"GCE_METADATA_HOST_UNUSED": "",
	}
}

type result struct {
	code     int
	stdout   string
	stderr   string
	duration time.Duration
}

func run(t *testing.T, e env, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	app := &App{
		In:     strings.NewReader(stdin),
		Out:    &out,
		Err:    &errb,
		Getenv: func(k string) string { return e[k] },
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	code := Run(ctx, app, args)
	r := result{code: code, stdout: out.String(), stderr: errb.String(), duration: time.Since(start)}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		t.Fatalf("gcptoken %v printed a stack trace:\n%s", args, r.stderr)
	}
	return r
}

// writeFile writes data into the test's temp dir and returns the path.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// defaultScope is what access tokens asked for without scopes carry.
const defaultScope = credentials.DefaultScope

func saKeyFile(t *testing.T, f *fakegoogle.Running) string {
	t.Helper()
	data, err := f.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "sa.json", data)
}

func userFile(t *testing.T, f *fakegoogle.Running, scopes ...string) (path, refreshToken string) {
	t.Helper()
	if len(scopes) == 0 {
		scopes = credentials.UserScopes()
	}
	rt, err := f.IssueRefreshToken(fakegoogle.DefaultClientID, fakegoogle.DefaultUser, scopes)
	if err != nil {
		t.Fatal(err)
	}
	data, err := f.AuthorizedUserJSON(fakegoogle.DefaultClientID, rt)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "user.json", data), rt
}

func wantCode(t *testing.T, r result, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("got exit code %d; want %d\nstdout: %s\nstderr: %s", r.code, want, r.stdout, r.stderr)
	}
}

// wantOneLineError checks the error contract: one line (plus the usage hint
// for usage errors), prefixed, containing every fragment.
func wantOneLineError(t *testing.T, r result, fragments ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "gcptoken: ") {
		t.Fatalf("stderr %q does not start with \"gcptoken: \"", r.stderr)
	}
	if len(lines) > 2 || (len(lines) == 2 && !strings.HasPrefix(lines[1], "Run 'gcptoken")) {
		t.Errorf("error spans %d lines; want one:\n%s", len(lines), r.stderr)
	}
	for _, f := range fragments {
		if !mentions(lines[0], f) {
			t.Errorf("error %q does not mention %q", lines[0], f)
		}
	}
}

// mentions reports whether line holds fragment as written or, on Windows,
// as messages write it there: paths quoted with %q have their backslashes
// doubled, and Winsock's errors are capitalised ("connectex: Connection
// refused.").
func mentions(line, fragment string) bool {
	if strings.Contains(line, fragment) {
		return true
	}
	return runtime.GOOS == "windows" && (strings.Contains(line, strings.ReplaceAll(fragment, `\`, `\\`)) ||
		strings.Contains(strings.ToLower(line), strings.ToLower(fragment)))
}

func TestPrintAccessTokenCachesOnDisk(t *testing.T) {
	t.Parallel()
	f := ownFake(t)
	e := newEnv(t)
	key := saKeyFile(t, f)

	before := f.RequestCount("/token")
	first := run(t, e, "", "print-access-token", "--credentials", key)
	wantCode(t, first, 0)
	tok := strings.TrimSpace(first.stdout)
	if !strings.HasPrefix(tok, "ya29.") {
		t.Fatalf("got token %q; want a ya29. access token", tok)
	}
	second := run(t, e, "", "print-access-token", "--credentials", key)
	wantCode(t, second, 0)
	if got := strings.TrimSpace(second.stdout); got != tok {
		t.Errorf("second run printed %q; want the cached %q", got, tok)
	}
	if got := f.RequestCount("/token") - before; got != 1 {
		t.Errorf("got %d token requests for two runs; want 1 (cache hit)", got)
	}
	third := run(t, e, "", "print-access-token", "--credentials", key, "--no-cache")
	wantCode(t, third, 0)
	if got := f.RequestCount("/token") - before; got != 2 {
		t.Errorf("--no-cache: got %d token requests in total; want 2", got)
	}
	// Another scope is another cache entry.
	other := run(t, e, "", "print-access-token", "--credentials", key, "--scopes", "userinfo.email")
	wantCode(t, other, 0)
	if strings.TrimSpace(other.stdout) == tok {
		t.Error("a different scope got the cached cloud-platform token")
	}

	entries, err := os.ReadDir(e["GCPTOKEN_CACHE_DIR"])
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range entries {
		data, err := os.ReadFile(filepath.Join(e["GCPTOKEN_CACHE_DIR"], ent.Name()))
		if err != nil {
			continue
		}
		// Whom the token is for is recorded in the clear (status lists
		// it, as gcloud auth list does); the key is not.
		if bytes.Contains(data, []byte("PRIVATE KEY")) || bytes.Contains(data, []byte(`"private_key_id"`)) {
			t.Errorf("cache file %s holds credential material", ent.Name())
		}
		if strings.HasSuffix(ent.Name(), ".json") && !bytes.Contains(data, []byte(`"principal":"`+fakegoogle.DefaultServiceAccount+`"`)) {
			t.Errorf("cache file %s does not say whom its token is for", ent.Name())
		}
	}
}

func TestPrintAccessTokenFormats(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	key := saKeyFile(t, f)
	tests := []struct {
		format string
		check  func(t *testing.T, out string)
	}{
		{"text", func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "ya29.") || strings.Count(out, "\n") != 1 {
				t.Errorf("got %q; want one token line", out)
			}
		}},
		{"header", func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "Authorization: Bearer ya29.") || strings.Count(out, "\n") != 1 {
				t.Errorf("got %q; want an Authorization header line", out)
			}
		}},
		{"env", func(t *testing.T, out string) {
			prefix := "export " // the default dialect: see TestPrintEnvShells
			if runtime.GOOS == "windows" {
				prefix = "$env:"
			}
			if !strings.Contains(out, prefix+"GOOGLE_OAUTH_ACCESS_TOKEN") || !strings.Contains(out, prefix+"CLOUDSDK_AUTH_ACCESS_TOKEN") {
				t.Errorf("got %q; want shell assignments starting %q", out, prefix)
			}
		}},
		{"json", func(t *testing.T, out string) {
			var doc map[string]any
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			if doc["kind"] != "access_token" || doc["token_type"] != "Bearer" || doc["credential_type"] != "service_account" {
				t.Errorf("got %v", doc)
			}
			if n, _ := doc["expires_in"].(float64); n < 3000 || n > 3600 {
				t.Errorf("got expires_in %v; want about 3600", doc["expires_in"])
			}
			if doc["principal"] != fakegoogle.DefaultServiceAccount {
				t.Errorf("got principal %v; want %s", doc["principal"], fakegoogle.DefaultServiceAccount)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			r := run(t, e, "", "print-access-token", "--credentials", key, "--format", tt.format)
			wantCode(t, r, 0)
			tt.check(t, r.stdout)
		})
	}
}

func TestPrintIdentityToken(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	key := saKeyFile(t, f)
	aud := f.SampleServiceURL()
	for _, flag := range []string{"--audience", "--audiences"} {
		t.Run(flag, func(t *testing.T) {
			r := run(t, e, "", "print-identity-token", "--credentials", key, flag, aud)
			wantCode(t, r, 0)
			d, err := jwtinfo.Decode(strings.TrimSpace(r.stdout))
			if err != nil {
				t.Fatalf("output is not a JWT: %v", err)
			}
			if got := d.Claims["aud"]; got != aud {
				t.Errorf("got aud %v; want %q", got, aud)
			}
			if got := d.Claims["email"]; got != fakegoogle.DefaultServiceAccount {
				t.Errorf("got email %v; want %q", got, fakegoogle.DefaultServiceAccount)
			}
		})
	}
}

func TestUserCredentials(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	path, _ := userFile(t, f)

	r := run(t, e, "", "print-access-token", "--credentials", path, "--format", "json")
	wantCode(t, r, 0)
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["credential_type"] != "authorized_user" || !strings.Contains(doc["scope"].(string), "cloud-platform") {
		t.Errorf("got %v", doc)
	}

	// User ID tokens carry the OAuth client as audience, whatever was asked:
	// gcptoken prints the token and says so.
	r = run(t, e, "", "print-identity-token", "--credentials", path, "--audience", f.SampleServiceURL())
	wantCode(t, r, 0)
	d, err := jwtinfo.Decode(strings.TrimSpace(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if d.Claims["aud"] != fakegoogle.DefaultClientID {
		t.Errorf("got aud %v; want the client id", d.Claims["aud"])
	}
	if !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, fakegoogle.DefaultClientID) {
		t.Errorf("got stderr %q; want a warning naming the real audience", r.stderr)
	}
}

func TestADCFromEnvironmentAndExplain(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	e["GOOGLE_APPLICATION_CREDENTIALS"] = saKeyFile(t, f)
	r := run(t, e, "", "print-access-token")
	wantCode(t, r, 0)

	r = run(t, e, "", "explain")
	wantCode(t, r, 0)
	for _, want := range []string{"GOOGLE_APPLICATION_CREDENTIALS", "USED", "service_account", fakegoogle.DefaultServiceAccount, f.URL + "/token"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("explain output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "PRIVATE KEY") {
		t.Error("explain printed the private key")
	}
}

func TestGcloudWellKnownFile(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	cfg := t.TempDir()
	path, _ := userFile(t, f)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "application_default_credentials.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	e["CLOUDSDK_CONFIG"] = cfg
	r := run(t, e, "", "explain")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "authorized_user") || !strings.Contains(r.stdout, cfg) {
		t.Errorf("explain did not pick the CLOUDSDK_CONFIG file:\n%s", r.stdout)
	}
}

func TestCurl(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	key := saKeyFile(t, f)
	aud := f.SampleServiceURL()

	r := run(t, e, "", "curl", "--credentials", key, "--audience", aud, aud+"?start=2&end=4")
	wantCode(t, r, 0)
	var body struct {
		Range  []int  `json:"range"`
		Caller string `json:"caller"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &body); err != nil {
		t.Fatalf("body %q: %v", r.stdout, err)
	}
	if len(body.Range) != 3 || body.Range[0] != 2 || body.Caller != fakegoogle.DefaultServiceAccount {
		t.Errorf("got %+v; want range [2 3 4] called by the service account", body)
	}

	r = run(t, e, "", "curl", "-i", "--credentials", key, "--audience", aud, aud+"?start=1&end=1")
	wantCode(t, r, 0)
	if !strings.HasPrefix(r.stdout, "HTTP/1.1 200 OK\r\n") || !strings.Contains(r.stdout, "Content-Type: ") {
		t.Errorf("-i output lacks the status line and headers:\n%s", r.stdout)
	}

	// An access token is not what the service wants: 401, exit 5.
	r = run(t, e, "", "curl", "--credentials", key, aud+"?start=1&end=2")
	wantCode(t, r, ExitHTTP)
	wantOneLineError(t, r, "HTTP 401")

	// Wrong audience: 401 too.
	r = run(t, e, "", "curl", "--credentials", key, "--audience", "https://other.example", aud)
	wantCode(t, r, ExitHTTP)
}

func TestCurlSendsBody(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	key := saKeyFile(t, f)
	// tokeninfo accepts a POSTed form: use it as an echo of what curl sent.
	tok := strings.TrimSpace(run(t, e, "", "print-access-token", "--credentials", key).stdout)
	dataFile := writeFile(t, "body.txt", []byte("access_token="+tok))
	for _, data := range []string{"access_token=" + tok, "@" + dataFile} {
		r := run(t, e, "", "curl", "--credentials", key, "-d", data, f.URL+"/tokeninfo")
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, `"expires_in"`) {
			t.Errorf("-d %s: got %q; want tokeninfo's answer", data, r.stdout)
		}
	}
}

func TestInfo(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	e["GCPTOKEN_TOKENINFO_URL"] = f.URL + "/tokeninfo"
	key := saKeyFile(t, f)
	idt := strings.TrimSpace(run(t, e, "", "print-identity-token", "--credentials", key, "--audience", "https://svc.example").stdout)
	at := strings.TrimSpace(run(t, e, "", "print-access-token", "--credentials", key, "--scopes", "cloud-platform,email").stdout)

	r := run(t, e, idt+"\n", "info")
	wantCode(t, r, 0)
	for _, want := range []string{"not verified", "https://svc.example", "RS256", "Expires:", "valid", "ID token naming Google as issuer, for audience https://svc.example"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("info (JWT) lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run(t, e, "", "info", at)
	wantCode(t, r, 0)
	for _, want := range []string{"tokeninfo", fakegoogle.DefaultServiceAccount, "cloud-platform"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("info (opaque) lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run(t, e, "", "info", "--format", "json", idt)
	wantCode(t, r, 0)
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc["verified"] != false {
		t.Errorf("info --format json: got %v, %v", doc, err)
	}
	r = run(t, e, "", "info", "ya29.not-a-real-token")
	wantCode(t, r, ExitCredentials)
	wantOneLineError(t, r, "tokeninfo")
}

func TestCacheClear(t *testing.T) {
	t.Parallel()
	f := ownFake(t)
	e := newEnv(t)
	key := saKeyFile(t, f)
	wantCode(t, run(t, e, "", "print-access-token", "--credentials", key), 0)
	r := run(t, e, "", "cache", "clear")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "Removed 1 ") {
		t.Errorf("got %q; want one removed token", r.stdout)
	}
	before := f.RequestCount("/token")
	wantCode(t, run(t, e, "", "print-access-token", "--credentials", key), 0)
	if f.RequestCount("/token") != before+1 {
		t.Error("after cache clear the token was not fetched again")
	}
}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := run(t, e, "", "version")
	wantCode(t, r, 0)
	if !strings.HasPrefix(r.stdout, "gcptoken ") {
		t.Errorf("got %q", r.stdout)
	}
	r = run(t, e, "", "--help")
	wantCode(t, r, 0)
	for _, want := range []string{"Exit status:", "3  credentials error", "print-access-token", "emulator"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	r := run(t, newEnv(t), "", "completion", "bash")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "bash completion") {
		t.Errorf("completion bash printed no script:\n%.200s", r.stdout)
	}
	r = run(t, newEnv(t), "", "__complete", "print-")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "print-access-token") || !strings.Contains(r.stdout, "print-identity-token") {
		t.Errorf("__complete print- got:\n%s", r.stdout)
	}
}
