//go:build unix

package fileutil

import (
	"os"
	"testing"
)

// assertPrivate fails unless path is mode 0600.
func assertPrivate(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("got mode %o; want 600", perm)
	}
}
