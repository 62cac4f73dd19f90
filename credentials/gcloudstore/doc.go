// Package gcloudstore reads the Google Cloud CLI's credential store,
// credentials.db in gcloud's configuration directory, for
// credentials.Options.GcloudStore: with it, credentials.Detect also finds
// the accounts signed in with `gcloud auth login` and `gcloud auth
// activate-service-account`, and `--account` picks one.
//
// The store is an SQLite database that gcloud writes while it runs. Store
// opens it read-only through SQLite itself (modernc.org/sqlite, a pure-Go
// translation of SQLite, so that static CGO_ENABLED=0 builds keep working),
// so that SQLite's own locking keeps a read from seeing half of gcloud's
// write: it waits while gcloud holds the write lock, up to a timeout, and
// it never writes, never creates the file, and never creates a journal or
// WAL file beside it.
//
// It is a module of its own so that programs that use the credentials
// package without gcloud's accounts do not link a database engine.
//
// Package gcloudtest makes gcloud configuration directories for tests by
// running the real gcloud against a fake Google.
package gcloudstore
