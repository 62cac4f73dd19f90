package gcloudstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/gcptoken/gcptoken/credentials"
)

// DefaultBusyTimeout is how long Store waits for a lock that a running
// gcloud holds: what gcloud itself waits (creds.py _SqlCursor).
const DefaultBusyTimeout = 5 * time.Second

// maxRows bounds what is read: a person has a handful of accounts.
const maxRows = 10000

// Store reads gcloud's credentials.db. The zero value is ready to use.
type Store struct {
	// BusyTimeout is how long to wait for a lock that another process
	// (gcloud) holds on the database. Optional; default
	// DefaultBusyTimeout.
	BusyTimeout time.Duration
}

var _ credentials.GcloudStore = Store{}

// GcloudCredentials returns the rows of the credentials table of the
// database at path, in gcloud's order (rowid); none when gcloud has not
// created the table yet. A missing file is an error matching
// fs.ErrNotExist, and is not created.
func (s Store) GcloudCredentials(ctx context.Context, path string) ([]credentials.GcloudCredential, error) {
	// SQLite's mode=ro never creates the file either; the check gives the
	// caller an fs.ErrNotExist rather than SQLite's "unable to open".
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	dsn, err := readOnlyDSN(path, s.BusyTimeout)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var tables int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'credentials'`).Scan(&tables)
	if err != nil {
		return nil, fmt.Errorf("read the database: %w", err)
	}
	if tables == 0 {
		return nil, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT account_id, value FROM "credentials" ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("read the credentials table: %w", err)
	}
	defer rows.Close()
	var out []credentials.GcloudCredential
	for rows.Next() {
		var id sql.NullString
		var value []byte
		if err := rows.Scan(&id, &value); err != nil {
			return nil, fmt.Errorf("read the credentials table: %w", err)
		}
		if !id.Valid || value == nil {
			continue // gcloud never writes such a row; nothing to use
		}
		if len(out) == maxRows {
			return nil, fmt.Errorf("the credentials table has more than %d rows; not gcloud's", maxRows)
		}
		out = append(out, credentials.GcloudCredential{AccountID: id.String, JSON: value})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the credentials table: %w", err)
	}
	return out, nil
}

// readOnlyDSN is an SQLite URI that opens path read-only (mode=ro: no
// write, no new file, no journal) with a busy timeout, and refuses writes
// on the connection besides (query_only). It is not immutable=1: gcloud
// may be writing, and immutable would read without locks.
func readOnlyDSN(path string, busy time.Duration) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	if busy < time.Millisecond {
		return "", errors.New("gcloudstore: BusyTimeout under a millisecond")
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive: file:///C:/…
	}
	u := url.URL{Scheme: "file", Path: p}
	q := fmt.Sprintf("mode=ro&_pragma=busy_timeout(%d)&_pragma=query_only(1)", busy.Milliseconds())
	return u.String() + "?" + q, nil
}
