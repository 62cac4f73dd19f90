//go:build unix

package diskcache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// openNoFollow is added to every open of an entry or lock file: no symlink
// is followed by the kernel (os.Root adds it too; see dir.openFile for why
// an Lstat backs it up), and a FIFO does not block the open.
const openNoFollow = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

func owner(fi fs.FileInfo) (int, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, errors.New("cannot determine its owner")
	}
	return int(st.Uid), nil
}

// mkdirPrivate makes the cache directory (and missing parents) 0700.
func mkdirPrivate(path string) error { return os.MkdirAll(path, 0o700) }

// checkPrivate refuses entries and locks others could have read or written.
func checkPrivate(_ *os.File, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("permissions %#o, want 0600", perm)
	}
	uid, err := owner(fi)
	if err != nil {
		return err
	}
	if me := os.Geteuid(); uid != me {
		return fmt.Errorf("owned by uid %d, not %d", uid, me)
	}
	return nil
}

// checkDirOwner refuses a cache directory that is not the user's alone. Its
// error completes "token cache directory DIR …".
func checkDirOwner(_ *os.File, fi fs.FileInfo) error {
	uid, err := owner(fi)
	if err != nil {
		return err
	}
	if me := os.Geteuid(); uid != me {
		return fmt.Errorf("is owned by uid %d, not by this user (uid %d): its owner could read or plant tokens; "+
			"remove it, or set %s to a directory of your own", uid, me, EnvDir)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("is writable by other users (mode %#o), who could have planted entries; "+
			"remove it (gcptoken makes it again, 0700)", perm)
	}
	return nil
}

// checkParent refuses a parent directory in which someone else could swap
// the cache directory. Its error completes "its parent DIR …".
func checkParent(_ string, fi fs.FileInfo) error {
	uid, err := owner(fi)
	if err != nil {
		return err
	}
	if me := os.Geteuid(); uid != me && uid != 0 {
		return fmt.Errorf("is owned by uid %d, who could replace the cache directory; set %s to a directory of your own", uid, EnvDir)
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("is writable by other users (mode %#o, no sticky bit), who could replace the cache directory; set %s to a directory of your own",
			fi.Mode().Perm(), EnvDir)
	}
	return nil
}

// tighten makes the user's own directory 0700 if it is readable by others:
// a listable cache directory tells which identities are in use. It works on
// the open descriptor, so it can only ever change the verified directory.
func tighten(_ string, f *os.File, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	return f.Chmod(0o700)
}
