//go:build unix

package cli

import (
	"path/filepath"
	"syscall"
	"testing"
)

// fifo makes a named pipe that no one writes to.
func fifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fifo.json")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	return p
}
