//go:build !windows

package cli

import (
	"os"
	"testing"
)

// letOthersRead makes path readable by everyone.
func letOthersRead(t *testing.T, path string) {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

// letOthersWrite makes dir writable by everyone.
func letOthersWrite(t *testing.T, dir string) {
	t.Helper()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
}

// wantPrivateACL is Windows' part of wantMode.
func wantPrivateACL(t *testing.T, path string) {
	t.Helper()
	t.Fatalf("wantPrivateACL(%s) called outside Windows", path)
}
