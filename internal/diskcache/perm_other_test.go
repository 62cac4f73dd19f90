//go:build !unix && !windows

package diskcache

import (
	"os"
	"testing"
)

func mkfifo(t *testing.T, path string) {
	t.Skip("no FIFOs on this platform")
}

func fileOwner(os.FileInfo) int { return -1 }
