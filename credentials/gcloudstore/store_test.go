package gcloudstore

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/credentials/gcloudstore/gcloudtest"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

const user = "gcloud-user@example.com"

// newGcloud makes a configuration directory with the real gcloud: a
// service account activated with its key, then a user signed in through
// the browser sign-in (the active account), against a fake Google.
func newGcloud(t *testing.T) *gcloudtest.Gcloud {
	t.Helper()
	f, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	g := gcloudtest.New(t, f)
	g.ActivateServiceAccount(t, fakegoogle.DefaultServiceAccount)
	g.Login(t, user)
	return g
}

// TestGcloudMadeStore reads a store that gcloud made and gets tokens of
// each account from it through credentials.Detect.
func TestGcloudMadeStore(t *testing.T) {
	g := newGcloud(t)
	db := filepath.Join(g.Dir, "credentials.db")
	rows, err := Store{}.GcloudCredentials(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{fakegoogle.DefaultServiceAccount: credentials.TypeServiceAccount, user: credentials.TypeAuthorizedUser}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows; want %d", len(rows), len(want))
	}
	for _, r := range rows {
		var stored struct {
			Type     string `json:"type"`
			TokenURI string `json:"token_uri"`
		}
		if err := json.Unmarshal(r.JSON, &stored); err != nil {
			t.Fatalf("row %q: %v", r.AccountID, err)
		}
		if want[r.AccountID] != stored.Type || stored.TokenURI != credentials.DefaultTokenURL {
			t.Errorf("row %q: type %q, token_uri %q; want %q, %q", r.AccountID, stored.Type, stored.TokenURI, want[r.AccountID], credentials.DefaultTokenURL)
		}
	}
	getenv := func(k string) string {
		return map[string]string{"CLOUDSDK_CONFIG": g.Dir, endpoints.EnvEmulatorHost: g.EmulatorHost(), "NO_GCE_CHECK": "true"}[k]
	}
	for _, tt := range []struct{ name, account, want, wantType string }{
		{"the active account", "", user, credentials.TypeAuthorizedUser},
		{"--account", fakegoogle.DefaultServiceAccount, fakegoogle.DefaultServiceAccount, credentials.TypeServiceAccount},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := credentials.Detect(t.Context(), &credentials.Options{
				Getenv: getenv, HomeDir: t.TempDir(), GcloudStore: Store{}, GcloudAccount: tt.account,
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.Type != tt.wantType || c.Principal != tt.want {
				t.Errorf("got %s %s; want %s %s", c.Type, c.Principal, tt.wantType, tt.want)
			}
			tok, err := c.AccessToken(t.Context(), credentials.DefaultScope, "https://www.googleapis.com/auth/userinfo.email")
			if err != nil {
				t.Fatal(err)
			}
			if got := tokenEmail(t, g.Fake.URL, tok.Value); got != tt.want {
				t.Errorf("the fake says the token is %q's; want %q's", got, tt.want)
			}
		})
	}
}

// tokenEmail asks the fake's tokeninfo whose access token tok is.
func tokenEmail(t *testing.T, base, tok string) string {
	t.Helper()
	resp, err := http.PostForm(base+"/tokeninfo", url.Values{"access_token": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct{ Email string }
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("tokeninfo: HTTP %d, %v", resp.StatusCode, err)
	}
	return info.Email
}

// copyDB copies gcloud's credentials.db into a directory of its own.
func copyDB(t *testing.T, g *gcloudtest.Gcloud) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(g.Dir, "credentials.db"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "credentials.db")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadOnly: reading changes nothing in gcloud's directory and creates
// no file (no journal, no WAL, and no database where there was none).
func TestReadOnly(t *testing.T) {
	g := newGcloud(t)
	before := g.Snapshot(t)
	for range 3 {
		if _, err := (Store{}).GcloudCredentials(t.Context(), filepath.Join(g.Dir, "credentials.db")); err != nil {
			t.Fatal(err)
		}
	}
	if after := g.Snapshot(t); after != before {
		t.Errorf("gcloud's directory changed:\n%s\nwant\n%s", after, before)
	}
	missing := filepath.Join(t.TempDir(), "credentials.db")
	if _, err := (Store{}).GcloudCredentials(t.Context(), missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got error %v; want fs.ErrNotExist", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(missing)); len(entries) != 0 {
		t.Errorf("reading a missing store created %v", entries)
	}
	// Writes are refused even if someone asked on the same connection.
	dsn, err := readOnlyDSN(filepath.Join(g.Dir, "credentials.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), `DELETE FROM "credentials"`); err == nil {
		t.Error("a write through the read-only connection succeeded")
	}
	if after := g.Snapshot(t); after != before {
		t.Errorf("gcloud's directory changed after a refused write")
	}
}

// TestWhileGcloudWrites: while a writer holds the RESERVED lock (gcloud
// in the middle of a transaction) reads go on and see the last commit;
// while it holds the EXCLUSIVE lock (gcloud committing) a read waits, and
// gives up with SQLite's "database is locked" after BusyTimeout.
func TestWhileGcloudWrites(t *testing.T) {
	g := newGcloud(t)
	path := copyDB(t, g)
	writer, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	writer.SetMaxOpenConns(1)
	ctx := t.Context()
	conn, err := writer.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`BEGIN IMMEDIATE`)
	exec(`DELETE FROM "credentials"`)
	rows, err := Store{BusyTimeout: 200 * time.Millisecond}.GcloudCredentials(ctx, path)
	if err != nil || len(rows) != 2 {
		t.Errorf("during gcloud's transaction: got %d rows, %v; want the 2 committed ones", len(rows), err)
	}
	exec(`ROLLBACK`)

	exec(`BEGIN EXCLUSIVE`)
	start := time.Now()
	_, err = Store{BusyTimeout: 300 * time.Millisecond}.GcloudCredentials(ctx, path)
	if err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Errorf("under gcloud's exclusive lock: got error %v; want database is locked", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Errorf("gave up after %v; want about the 300ms busy timeout", d)
	}
	released := make(chan error, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, err := conn.ExecContext(ctx, `COMMIT`)
		released <- err
	}()
	rows, err = Store{}.GcloudCredentials(ctx, path)
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if err != nil || len(rows) != 2 {
		t.Errorf("after waiting for the lock: got %d rows, %v; want 2", len(rows), err)
	}
}

// TestStoreShapes: no credentials table yet (gcloud creates it on first
// use) is no account; a file that is not SQLite is an error; paths with
// characters that mean something in a URI work.
func TestStoreShapes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%25chars")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "credentials.db")
	ro, err := readOnlyDSN(empty, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	uri, _, _ := strings.Cut(ro, "?") // the path itself holds no '?': it is escaped
	db, err := sql.Open("sqlite", uri+"?mode=rwc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE other (x)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	rows, err := Store{}.GcloudCredentials(t.Context(), empty)
	if err != nil || len(rows) != 0 {
		t.Errorf("without the table: got %v, %v; want no rows", rows, err)
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a database "), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (Store{}).GcloudCredentials(t.Context(), junk); err == nil || !strings.Contains(err.Error(), "not a database") {
		t.Errorf("got error %v; want SQLite's file is not a database", err)
	}
}
