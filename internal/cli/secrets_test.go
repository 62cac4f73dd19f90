package cli

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/metadataserver"
)

// TestSecretsAudit runs every command that handles credentials with debug
// logging against a fake Google that itself logs at debug, then checks that
// no token, refresh token, private key or client secret appears in any
// command's stderr, in the fake's log, or in the servers' logs; and that the
// token cache holds tokens only, in 0600 files under 0700 directories.
func TestSecretsAudit(t *testing.T) {
	t.Parallel()
	fakeLog := &syncBuffer{}
	f, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{
		RSAKeyBits: 1024,
		Logger:     slog.New(slog.NewTextHandler(fakeLog, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	keyJSON, err := f.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	key := writeFile(t, "sa.json", keyJSON)
	user, rt := userFile(t, f)

	// The secrets every run must keep out of logs. Tokens are added as
	// commands print them.
	var kf struct {
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(keyJSON, &kf); err != nil {
		t.Fatal(err)
	}
	keyLines := strings.Split(strings.TrimSpace(kf.PrivateKey), "\n")
	secrets := map[string]string{
		"refresh token":        rt,
		"client secret":        fakegoogle.DefaultClientSecret,
		"private key (PEM)":    "-----BEGIN PRIVATE KEY",
		"private key (line 2)": keyLines[1],
		"private key (line 9)": keyLines[9],
	}

	e := newEnv(t)
	e[envLogLevel] = "debug"
	e[envTokenInfoURL] = f.URL + "/tokeninfo"
	e[envCertsURL] = f.URL + "/oauth2/v3/certs"
	e[envIAMEndpoint] = f.IAMCredentialsURL()
	aud := f.SampleServiceURL()
	var stderrs []string
	mustRun := func(stdin string, args ...string) string {
		t.Helper()
		r := run(t, e, stdin, args...)
		if r.code != ExitOK {
			t.Fatalf("gcptoken %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
		stderrs = append(stderrs, r.stderr) // not the args: they may hold a token
		return strings.TrimSpace(r.stdout)
	}

	saAccess := mustRun("", "print-access-token", "--credentials", key)
	secrets["SA access token"] = saAccess
	secrets["SA access token (cached run)"] = mustRun("", "print-access-token", "--credentials", key)
	secrets["SA ID token"] = mustRun("", "print-identity-token", "--credentials", key, "--audience", aud)
	userAccess := mustRun("", "--log-level", "debug", "print-access-token", "--credentials", user, "--no-cache")
	secrets["user access token"] = userAccess
	secrets["user ID token"] = mustRun("", "print-identity-token", "--credentials", user, "--audience", aud)
	secrets["impersonated access token"] = mustRun("", "print-access-token", "--credentials", key,
		"--impersonate-service-account", fakegoogle.DefaultTargetServiceAccount)
	secrets["impersonated ID token"] = mustRun("", "print-identity-token", "--credentials", key,
		"--impersonate-service-account", fakegoogle.DefaultTargetServiceAccount, "--audience", aud)
	if out := mustRun("", "print-access-token", "--credentials", key, "--format", "json"); !strings.Contains(out, saAccess) {
		t.Errorf("--format json printed %q; want the cached token in it", out)
	}

	mustRun("", "info", saAccess)
	mustRun(secrets["SA ID token"], "info")
	mustRun(secrets["SA ID token"], "verify", "--audience", aud)
	mustRun("", "curl", "--credentials", key, "--audience", aud, aud+"?start=1&end=3")
	mustRun("", "curl", "--credentials", user, "-i", f.URL+"/oauth2/v3/certs")
	mustRun("", "explain", "--credentials", key)
	mustRun("", "explain", "--credentials", user)
	mustRun("", "cache", "dir")

	// Debug logging is really on: the token requests were logged.
	if all := strings.Join(stderrs, "\n"); !strings.Contains(all, "level=DEBUG") || !strings.Contains(all, "/token") {
		t.Fatalf("no debug log of HTTP requests in the commands' stderr:\n%s", all)
	}

	// The proxy, through the CLI, with debug logging.
	addr, _, proxyErr := startProxyCmd(t, e, "--target", f.URL, "--audience", aud, "--credentials", key)
	if code, body := proxyGet(t, "http://"+addr+"/sample/get_range?start=1&end=2&access_token=query-secret"); code != http.StatusOK {
		t.Fatalf("through the proxy: %d %s", code, body)
	}
	// The metadata server through its library entry (the command runs
	// until interrupted), with a debug logger.
	mdsLog := &syncBuffer{}
	creds, err := credentials.FromJSON(keyJSON, &credentials.Options{Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := metadataserver.New(&metadataserver.Options{
		Source: metadataserver.FromCredentials(creds), ServiceAccountEmail: fakegoogle.DefaultServiceAccount, ProjectID: fakegoogle.DefaultProjectID,
		Logger: slog.New(slog.NewTextHandler(mdsLog, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ms.Serve(ctx, ln) }()
	for _, p := range []string{"token", "identity?audience=" + url.QueryEscape(aud)} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/computeMetadata/v1/instance/service-accounts/default/"+p, nil)
		req.Header.Set("Metadata-Flavor", "Google")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("metadata server %s: %d %s", p, resp.StatusCode, body)
		}
		tok := strings.TrimSpace(string(body))
		if p == "token" {
			var v struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatal(err)
			}
			tok = v.AccessToken
		}
		secrets["metadata server "+p] = tok
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}

	logs := map[string]string{
		"fake Google's debug log":     fakeLog.String(),
		"proxy's stderr":              proxyErr.String(),
		"metadata server's debug log": mdsLog.String(),
	}
	for i, s := range stderrs {
		logs["stderr of run "+string(rune('A'+i))] = s
	}
	secrets["query secret"] = "query-secret"
	for where, text := range logs {
		for what, secret := range secrets {
			if len(secret) < 8 {
				t.Fatalf("secret %q is too short to search for: %q", what, secret)
			}
			if strings.Contains(text, secret) {
				t.Errorf("%s contains the %s:\n%s", where, what, text)
			}
		}
	}

	checkCacheFiles(t, e["GCPTOKEN_CACHE_DIR"], map[string]string{
		"refresh token": rt, "client secret": fakegoogle.DefaultClientSecret,
		"private key": "PRIVATE KEY", "private key (line 2)": keyLines[1],
	})
}

func noEnv(string) string { return "" }

// checkCacheFiles walks the cache: directories 0700, files 0600, and no
// file holds any of the given secrets.
func checkCacheFiles(t *testing.T, dir string, forbidden map[string]string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			wantMode(t, path, 0o700)
			return nil
		}
		files++
		wantMode(t, path, 0o600)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for what, s := range forbidden {
			if strings.Contains(string(data), s) {
				t.Errorf("cache file %s contains the %s", path, what)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no cache files under %s; the audit checked nothing", dir)
	}
}
