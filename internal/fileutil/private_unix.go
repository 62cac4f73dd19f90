//go:build !windows

package fileutil

import (
	"fmt"
	"os"
)

// CheckPrivate refuses a file others may read or write: mode bits for group
// or others on Unix, a DACL granting anyone but the owner, SYSTEM and
// Administrators on Windows. Its error completes "FILE …" and says how to
// fix it.
func CheckPrivate(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("has mode %v: other users can read it; run chmod 600 %s", perm, path)
	}
	return nil
}
