package diskcache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"

	"github.com/gcptoken/gcptoken/internal/winacl"
)

// openNoFollow: os.Root already refuses links leaving the directory, and
// dir.openFile refuses symlinks and junctions by Lstat.
const openNoFollow = 0

// On Windows the owner and the DACL play the parts of Unix's owner and
// permission bits: "private" means owned by the current user and granting
// access to nobody but the user, SYSTEM and Administrators (see winacl).

// mkdirPrivate makes the cache directory with a protected DACL whose
// entries every file made inside inherits: os.MkdirAll(path, 0o700) on
// Unix. Missing parents get Windows' defaults (inherited from theirs).
func mkdirPrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := winacl.Mkdir(path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

func handle(f *os.File) windows.Handle { return windows.Handle(f.Fd()) }

// checkPrivate refuses entries and locks others could have read or written.
func checkPrivate(f *os.File, _ fs.FileInfo) error {
	d, err := winacl.Get(handle(f))
	if err != nil {
		return err
	}
	if err := d.CheckOwner(false); err != nil {
		return err
	}
	return d.CheckGrants(winacl.ReadOrWrite)
}

// checkDirOwner refuses a cache directory that is not the user's alone. Its
// error completes "token cache directory DIR …".
func checkDirOwner(f *os.File, _ fs.FileInfo) error {
	d, err := winacl.Get(handle(f))
	if err != nil {
		return fmt.Errorf("cannot be checked: %v", err)
	}
	if err := d.CheckOwner(false); err != nil {
		return fmt.Errorf("%v: its owner could read or plant tokens; remove it, or set %s to a directory of your own", err, EnvDir)
	}
	if err := d.CheckGrants(winacl.WriteDir); err != nil {
		return fmt.Errorf("%v, which lets them plant entries; remove it (gcptoken makes it again, private)", err)
	}
	return nil
}

// checkParent refuses a parent directory in which someone else could swap
// the cache directory. Its error completes "its parent DIR …".
func checkParent(path string, _ fs.FileInfo) error {
	d, err := winacl.GetNamed(path)
	if err != nil {
		return fmt.Errorf("cannot be checked: %v", err)
	}
	if err := d.CheckOwner(true); err != nil {
		return fmt.Errorf("%v, who could replace the cache directory; set %s to a directory of your own", err, EnvDir)
	}
	if err := d.CheckGrants(winacl.ReplaceChild); err != nil {
		return fmt.Errorf("%v, which lets them replace the cache directory; set %s to a directory of your own", err, EnvDir)
	}
	return nil
}

// tighten gives the user's own directory the private DACL if others may
// read it (a directory made before gcptoken made it private, or by hand):
// a listable cache directory tells which identities are in use. The DACL
// is set through a new handle that must be the verified directory.
func tighten(path string, f *os.File, _ fs.FileInfo) error {
	if d, err := winacl.Get(handle(f)); err == nil && d.CheckGrants(winacl.ReadOrWrite) == nil {
		return nil
	}
	h, err := winacl.OpenForDACL(path)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	var want, got windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(handle(f), &want); err != nil {
		return err
	}
	if err := windows.GetFileInformationByHandle(h, &got); err != nil {
		return err
	}
	if got.VolumeSerialNumber != want.VolumeSerialNumber || got.FileIndexHigh != want.FileIndexHigh || got.FileIndexLow != want.FileIndexLow {
		return errors.New("it was replaced while being checked")
	}
	return winacl.Restrict(h)
}
