//go:build !unix

package cli

import "testing"

// fifo skips: the file system has no named pipes here.
func fifo(t *testing.T) string {
	t.Skip("no FIFOs in this platform's file system")
	return ""
}
