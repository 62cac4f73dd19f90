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
