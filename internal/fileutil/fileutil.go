// Package fileutil writes files atomically with private permissions, for
// credential files, caches and emulator state that must never be seen half
// written or by other users; and reads files and streams from outside
// (credential files, token files, standard input) with a size bound and a
// context, so that no FIFO, device or endless file can hang a command.
package fileutil

import (
	"fmt"
	"os"
)

// TempSuffix ends the names of WriteAtomic's temporary files
// ("<name>.<random>.tmp"), so that a crashed writer's leftovers can be
// recognised and removed.
const TempSuffix = ".tmp"

// WriteAtomic writes data to path through a temporary file in the same
// directory (so the rename cannot cross file systems), sets perm before any
// byte is written, fsyncs it (so a crash cannot leave a renamed but empty
// file) and renames it into place: readers see the old or the new content,
// never a mix. On Windows a private perm (0600) is a DACL for the user,
// SYSTEM and Administrators only, and the replace succeeds while another
// process reads the file (see replace).
func WriteAtomic(path string, data []byte, perm os.FileMode) (err error) {
	tmp, err := createTemp(path, perm)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return replace(tmp.Name(), path)
}
