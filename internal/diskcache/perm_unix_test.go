//go:build unix

package diskcache

import (
	"os"
	"syscall"
	"testing"
)

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

func fileOwner(fi os.FileInfo) int {
	uid, _ := owner(fi)
	return uid
}

// exposeToOthers makes path readable by other users.
func exposeToOthers(t *testing.T, path string) {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
}
