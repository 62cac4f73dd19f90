package diskcache

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

func testKey(name string) KeyParts {
	return KeyParts{Identity: name, Kind: gcptoken.AccessToken}
}

// fileOf is the path of p's entry (suffix entrySuffix) or lock (lockSuffix).
func fileOf(c *Cache, p KeyParts, suffix string) string {
	return filepath.Join(c.Dir, Key(p)+suffix)
}

func newToken(value string, expiry time.Time) *gcptoken.Token {
	return &gcptoken.Token{Value: value, Type: "Bearer", Kind: gcptoken.AccessToken, Expiry: expiry}
}

func skipPermsOnWindows(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("Unix permission bits do not exist on Windows")
	}
}

func TestGetPutRoundTrip(t *testing.T) {
	t.Parallel()
	c := &Cache{Dir: t.TempDir(), Now: fixedNow(t0)}
	key := KeyParts{Identity: "a", Kind: gcptoken.IDToken, Audience: "https://svc.run.app"}
	in := &gcptoken.Token{
		Value:  "ya29.value",
		Type:   "Bearer",
		Kind:   gcptoken.IDToken,
		Expiry: t0.Add(time.Hour),
		Metadata: map[string]string{
			gcptoken.MetaScope:    "openid email",
			gcptoken.MetaAudience: "https://svc.run.app",
		},
	}
	if err := c.Put(key, in); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, ok := c.Get(key, time.Minute)
	if !ok {
		t.Fatalf("Get after Put missed")
	}
	if got.Value != in.Value || got.Type != in.Type || got.Kind != in.Kind || !got.Expiry.Equal(in.Expiry) {
		t.Errorf("Get = %+v; want %+v", got, in)
	}
	for _, k := range []string{gcptoken.MetaScope, gcptoken.MetaAudience} {
		if got.Metadata[k] != in.Metadata[k] {
			t.Errorf("Get Metadata[%q] = %q; want %q", k, got.Metadata[k], in.Metadata[k])
		}
	}
	if _, ok := c.Get(testKey("b"), 0); ok {
		t.Errorf("Get of another key hit")
	}
}

func TestGetRefreshWindow(t *testing.T) {
	t.Parallel()
	expiry := t0.Add(10 * time.Minute)
	tests := []struct {
		name         string
		now          time.Time
		minRemaining time.Duration
		wantHit      bool
	}{
		{name: "well before window", now: t0, minRemaining: 5 * time.Minute, wantHit: true},
		{name: "just outside window", now: expiry.Add(-5*time.Minute - time.Nanosecond), minRemaining: 5 * time.Minute, wantHit: true},
		{name: "at window edge", now: expiry.Add(-5 * time.Minute), minRemaining: 5 * time.Minute},
		{name: "inside window", now: expiry.Add(-time.Minute), minRemaining: 5 * time.Minute},
		{name: "zero window, valid", now: expiry.Add(-time.Second), minRemaining: 0, wantHit: true},
		{name: "zero window, at expiry", now: expiry, minRemaining: 0},
		{name: "expired", now: expiry.Add(time.Hour), minRemaining: 0},
		{name: "negative window, expired", now: expiry.Add(time.Second), minRemaining: -time.Hour},
		{name: "window longer than lifetime", now: t0, minRemaining: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			key := testKey("k")
			if err := (&Cache{Dir: dir, Now: fixedNow(t0)}).Put(key, newToken("v", expiry)); err != nil {
				t.Fatalf("Put: %v", err)
			}
			c := &Cache{Dir: dir, Now: fixedNow(tt.now)}
			if _, ok := c.Get(key, tt.minRemaining); ok != tt.wantHit {
				t.Errorf("Get(now=%v, minRemaining=%v) hit = %v; want %v", tt.now, tt.minRemaining, ok, tt.wantHit)
			}
			// Not being served is not a reason to delete: another caller
			// with a shorter window may still use it.
			if _, err := os.Stat(fileOf(c, key, entrySuffix)); err != nil {
				t.Errorf("entry gone after Get: %v", err)
			}
		})
	}
}

func TestPutRefuses(t *testing.T) {
	t.Parallel()
	idKey := KeyParts{Identity: "a", Kind: gcptoken.IDToken}
	tests := []struct {
		name string
		key  KeyParts
		tok  *gcptoken.Token
	}{
		{name: "nil token", key: testKey("a"), tok: nil},
		{name: "empty value", key: testKey("a"), tok: newToken("", t0.Add(time.Hour))},
		{name: "no expiry", key: testKey("a"), tok: newToken("v", time.Time{})},
		{name: "unknown kind", key: testKey("a"), tok: &gcptoken.Token{Value: "v", Kind: "refresh_token", Expiry: t0.Add(time.Hour)}},
		{name: "kind other than the key's", key: idKey, tok: newToken("v", t0.Add(time.Hour))},
		{name: "unknown key kind", key: KeyParts{Identity: "a", Kind: "refresh_token"}, tok: newToken("v", t0.Add(time.Hour))},
		{name: "no identity", key: KeyParts{Kind: gcptoken.AccessToken}, tok: newToken("v", t0.Add(time.Hour))},
		{name: "malformed value", key: testKey("a"), tok: newToken("v\nx", t0.Add(time.Hour))},
		{name: "type with a space", key: testKey("a"), tok: &gcptoken.Token{Value: "v", Type: "Bearer x", Kind: gcptoken.AccessToken, Expiry: t0.Add(time.Hour)}},
		{name: "scope with an escape", key: testKey("a"), tok: &gcptoken.Token{Value: "v", Kind: gcptoken.AccessToken, Expiry: t0.Add(time.Hour),
			Metadata: map[string]string{gcptoken.MetaScope: "a\x1b[2Jb"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			c := &Cache{Dir: dir, Now: fixedNow(t0)}
			if err := c.Put(tt.key, tt.tok); err == nil {
				t.Errorf("Put(%+v, %+v) = nil; want error", tt.key, tt.tok)
			}
			if des, _ := os.ReadDir(dir); len(des) != 0 {
				t.Errorf("Put left files behind: %v", des)
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	skipPermsOnWindows(t)
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
	}{
		{name: "dir created", prepare: func(t *testing.T, dir string) {}},
		{name: "existing 0755 dir tightened", prepare: func(t *testing.T, dir string) {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o755); err != nil { // defeat umask
				t.Fatal(err)
			}
		}},
		{name: "existing 0750 dir tightened", prepare: func(t *testing.T, dir string) {
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o750); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "nested", "gcptoken")
			if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
				t.Fatal(err)
			}
			tt.prepare(t, dir)
			c := &Cache{Dir: dir, Now: fixedNow(t0)}
			key := testKey("a")
			if err := c.Put(key, newToken("v", t0.Add(time.Hour))); err != nil {
				t.Fatalf("Put: %v", err)
			}
			assertMode(t, dir, 0o700)
			assertMode(t, fileOf(c, key, entrySuffix), 0o600)
		})
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %#o; want %#o", path, got, want)
	}
}

// TestGetRejectsLooseFile: an entry others can read (0644 on Unix, an
// Everyone entry in its DACL on Windows) may have leaked, and is not served.
func TestGetRejectsLooseFile(t *testing.T) {
	t.Parallel()
	c := &Cache{Dir: t.TempDir(), Now: fixedNow(t0)}
	key := testKey("a")
	if err := c.Put(key, newToken("v", t0.Add(time.Hour))); err != nil {
		t.Fatalf("Put: %v", err)
	}
	exposeToOthers(t, fileOf(c, key, entrySuffix))
	if _, ok := c.Get(key, 0); ok {
		t.Errorf("Get of an entry others can read hit; want miss")
	}
	// A fresh Put replaces it with a private file again.
	if err := c.Put(key, newToken("v2", t0.Add(time.Hour))); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got, ok := c.Get(key, 0); !ok || got.Value != "v2" {
		t.Errorf("Get after re-Put = %v, %v; want v2, true", got, ok)
	}
}

func TestGetRejectsSymlink(t *testing.T) {
	t.Parallel()
	skipPermsOnWindows(t)
	dir := t.TempDir()
	c := &Cache{Dir: dir, Now: fixedNow(t0)}
	other := testKey("other")
	if err := c.Put(other, newToken("v", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	key := testKey("a")
	if err := os.Symlink(fileOf(c, other, entrySuffix), fileOf(c, key, entrySuffix)); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(key, 0); ok {
		t.Errorf("Get through a symlink hit; want miss")
	}
}

// entryJSON is the entry Put writes for p and tok, with edit applied.
func entryJSON(t *testing.T, p KeyParts, tok *gcptoken.Token, edit func(e map[string]any)) string {
	t.Helper()
	e, err := newEntry(p, tok)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(e)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	data, _ = json.Marshal(m)
	return string(data)
}

func TestCorruptEntries(t *testing.T) {
	t.Parallel()
	key := testKey("a")
	valid := func(edit func(e map[string]any)) string {
		return entryJSON(t, key, newToken("v", t0.Add(time.Hour)), edit)
	}
	tokenField := func(name string, v any) func(e map[string]any) {
		return func(e map[string]any) { e["token"].(map[string]any)[name] = v }
	}
	tests := []struct {
		name       string
		content    string
		wantRemove bool
	}{
		{name: "empty file", content: "", wantRemove: true},
		{name: "truncated JSON", content: valid(nil)[:40], wantRemove: true},
		{name: "not JSON", content: "garbage\x00\xff", wantRemove: true},
		{name: "wrong field type", content: `{"version":"2"}`, wantRemove: true},
		{name: "missing token", content: valid(tokenField("value", "")), wantRemove: true},
		{name: "missing expiry", content: valid(func(e map[string]any) { delete(e["token"].(map[string]any), "expiry") }), wantRemove: true},
		{name: "other kind", content: valid(func(e map[string]any) { e["request"].(map[string]any)["kind"] = "id_token" }), wantRemove: true},
		{name: "oversized", content: valid(tokenField("value", strings.Repeat("x", maxEntrySize))), wantRemove: true},
		// Another gcptoken version may share the directory; its entries are
		// not ours to delete, only not ours to read.
		{name: "future version", content: valid(func(e map[string]any) { e["version"] = formatVersion + 1 })},
		{name: "version 1", content: `{"version":1,"kind":"access_token","token":"v","expiry":"` + t0.Add(time.Hour).Format(time.RFC3339) + `"}`},
		{name: "no version", content: valid(func(e map[string]any) { delete(e, "version") })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &Cache{Dir: t.TempDir(), Now: fixedNow(t0)}
			p := fileOf(c, key, entrySuffix)
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if got, ok := c.Get(key, 0); ok {
				t.Errorf("Get = %+v; want miss", got)
			}
			_, err := os.Stat(p)
			if removed := os.IsNotExist(err); removed != tt.wantRemove {
				t.Errorf("entry removed = %v; want %v (stat err %v)", removed, tt.wantRemove, err)
			}
		})
	}
}

func TestClear(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := &Cache{Dir: dir, Now: fixedNow(t0)}
	for _, name := range []string{"a", "b", "c"} {
		if err := c.Put(testKey(name), newToken("v", t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	ours := []string{
		Key(testKey("a")) + lockSuffix,
		Key(testKey("d")) + entrySuffix + ".123456" + tempSuffix, // a crashed writer's leftover
	}
	notOurs := []string{
		"README.json",
		"notes.txt",
		Key(testKey("e")) + ".json.bak",
		strings.ToUpper(Key(testKey("f"))) + entrySuffix,
	}
	for _, n := range append(slices.Clone(ours), notOurs...) {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, Key(testKey("g"))+entrySuffix+".d"), 0o700); err != nil {
		t.Fatal(err)
	}
	notOurs = append(notOurs, Key(testKey("g"))+entrySuffix+".d")

	removed, err := c.Clear()
	if err != nil {
		t.Fatalf("Clear: %v", err)
	}
	if removed != 3 {
		t.Errorf("Clear removed = %d; want 3", removed)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("Clear removed the directory: %v", err)
	}
	var left []string
	for _, de := range des {
		left = append(left, de.Name())
	}
	slices.Sort(left)
	slices.Sort(notOurs)
	if !slices.Equal(left, notOurs) {
		t.Errorf("after Clear dir has %q; want %q", left, notOurs)
	}
	if _, ok := c.Get(testKey("a"), 0); ok {
		t.Errorf("Get after Clear hit")
	}

	missing := &Cache{Dir: filepath.Join(dir, "absent")}
	if n, err := missing.Clear(); n != 0 || err != nil {
		t.Errorf("Clear of missing dir = %d, %v; want 0, nil", n, err)
	}
}

// TestNothingSecretOnDisk checks the whole file, not just the fields we
// meant to write: oauth2l's cache stored the private key, and an id_token
// riding along in Metadata is a credential too.
func TestNothingSecretOnDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := &Cache{Dir: dir, Now: fixedNow(t0)}
	const account = "sa@p.iam.gserviceaccount.com"
	key := KeyParts{Identity: "service_account:" + account + ":kid", Kind: gcptoken.AccessToken,
		Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"}}
	secrets := []string{"SECRET-ID-TOKEN", "SECRET-REFRESH", "SECRET-OTHER", account}
	tok := &gcptoken.Token{
		Value:  "ya29.the-access-token",
		Type:   "Bearer",
		Kind:   gcptoken.AccessToken,
		Expiry: t0.Add(time.Hour),
		Metadata: map[string]string{
			gcptoken.MetaScope:   "https://www.googleapis.com/auth/cloud-platform",
			gcptoken.MetaIDToken: secrets[0],
			"refresh_token":      secrets[1],
			"private_key":        secrets[2],
		},
	}
	if err := c.Put(key, tok); err != nil {
		t.Fatalf("Put: %v", err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	name := Key(key) + entrySuffix
	if len(des) != 1 || des[0].Name() != name {
		t.Fatalf("cache dir holds %v; want only %s", des, name)
	}
	raw, err := os.ReadFile(fileOf(c, key, entrySuffix))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(raw), s) {
			t.Errorf("cache file contains %q: %s", s, raw)
		}
	}
	var got any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("cache file is not JSON: %v", err)
	}
	want := map[string]any{
		"version":  float64(formatVersion),
		"key":      Key(key),
		"identity": digest(identityLabel, key.Identity),
		"owner":    digest(ownerLabel, key.Identity),
		"request": map[string]any{
			"kind":   "access_token",
			"scopes": []any{"https://www.googleapis.com/auth/cloud-platform"},
		},
		"token": map[string]any{
			"type":   "Bearer",
			"value":  "ya29.the-access-token",
			"expiry": "2025-06-01T13:00:00Z",
			"scope":  "https://www.googleapis.com/auth/cloud-platform",
		},
	}
	if !reflect.DeepEqual(got, any(want)) {
		t.Errorf("cache file = %s; want exactly the fields of %v", raw, want)
	}
}

func TestDefaultDir(t *testing.T) {
	// Not parallel: t.Setenv.
	t.Setenv(EnvDir, "/custom/cache")
	if got, err := DefaultDir(); got != "/custom/cache" || err != nil {
		t.Errorf("DefaultDir() = %q, %v; want /custom/cache, nil", got, err)
	}
	t.Setenv(EnvDir, "")
	// Give every platform's user cache directory a value, so the default is
	// checked everywhere rather than skipped where the machine has none.
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "xdg-cache"))
	t.Setenv("LocalAppData", filepath.Join(home, "appdata"))
	base, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("os.UserCacheDir with HOME, XDG_CACHE_HOME and LocalAppData set: %v", err)
	}
	if got, err := DefaultDir(); got != filepath.Join(base, "gcptoken") || err != nil {
		t.Errorf("DefaultDir() = %q, %v; want %q, nil", got, err, filepath.Join(base, "gcptoken"))
	}
	// Where each desktop keeps caches (docs/desktops.md).
	want := map[string]string{
		"linux":   filepath.Join(home, "xdg-cache", "gcptoken"),
		"darwin":  filepath.Join(home, "Library", "Caches", "gcptoken"),
		"windows": filepath.Join(home, "appdata", "gcptoken"),
	}[runtime.GOOS]
	if got, _ := DefaultDir(); want != "" && got != want {
		t.Errorf("DefaultDir() on %s = %q; want %q", runtime.GOOS, got, want)
	}
}

func BenchmarkCacheHit(b *testing.B) {
	c := &Cache{Dir: b.TempDir(), Now: fixedNow(t0)}
	key := testKey("bench")
	if err := c.Put(key, newToken("ya29.bench", t0.Add(time.Hour))); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Get(key, 5*time.Minute); !ok {
			b.Fatal("miss")
		}
	}
}

// TestListAndForgetPrincipal: List shows whom each entry is for and what
// it was asked for, never the token; ForgetPrincipal drops one
// principal's entries and nothing else.
func TestListAndForgetPrincipal(t *testing.T) {
	t.Parallel()
	c := &Cache{Dir: t.TempDir(), Now: fixedNow(t0)}
	sa := KeyParts{Identity: "sa", Kind: gcptoken.AccessToken, Scopes: []string{"s2", "s1"}, Principal: "sa@p.iam.gserviceaccount.com"}
	saID := KeyParts{Identity: "sa", Kind: gcptoken.IDToken, Audience: "https://svc.example", Principal: "sa@p.iam.gserviceaccount.com"}
	user := KeyParts{Identity: "user", Kind: gcptoken.AccessToken, Principal: "me@example.com"}
	anon := KeyParts{Identity: "anon", Kind: gcptoken.AccessToken} // written before principals were recorded
	id := &gcptoken.Token{Value: "eyJ.secret-id", Type: "Bearer", Kind: gcptoken.IDToken, Expiry: t0.Add(2 * time.Hour)}
	for _, put := range []struct {
		p   KeyParts
		tok *gcptoken.Token
	}{{sa, newToken("ya29.secret-sa", t0.Add(time.Hour))}, {saID, id}, {user, newToken("ya29.secret-user", t0.Add(time.Hour))}, {anon, newToken("ya29.secret-anon", t0.Add(time.Hour))}} {
		if err := c.Put(put.p, put.tok); err != nil {
			t.Fatal(err)
		}
	}
	l, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range l {
		got = append(got, fmt.Sprintf("%s %s %v %s %s", e.Principal, e.Kind, e.Scopes, e.Audience, e.Expiry.Sub(t0)))
	}
	want := []string{
		" access_token []  1h0m0s",
		"me@example.com access_token []  1h0m0s",
		"sa@p.iam.gserviceaccount.com access_token [s1 s2]  1h0m0s",
		"sa@p.iam.gserviceaccount.com id_token [] https://svc.example 2h0m0s",
	}
	if !slices.Equal(got, want) {
		t.Errorf("List =\n%q\nwant\n%q", got, want)
	}
	if s := fmt.Sprintf("%+v", l); strings.Contains(s, "secret") {
		t.Errorf("List shows a token: %s", s)
	}

	n, err := c.ForgetPrincipal("sa@p.iam.gserviceaccount.com")
	if err != nil || n != 2 {
		t.Fatalf("ForgetPrincipal = %d, %v; want 2, nil", n, err)
	}
	for _, p := range []KeyParts{sa, saID} {
		if _, ok := c.Get(p, 0); ok {
			t.Errorf("%s %s still cached", p.Principal, p.Kind)
		}
	}
	for _, p := range []KeyParts{user, anon} {
		if _, ok := c.Get(p, 0); !ok {
			t.Errorf("%q's token was dropped with another principal's", p.Principal)
		}
	}
	if n, err := c.ForgetPrincipal(""); n != 0 || err != nil {
		t.Errorf(`ForgetPrincipal("") = %d, %v; want 0, nil: entries without a principal are not anyone's`, n, err)
	}
}
