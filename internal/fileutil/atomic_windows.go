package fileutil

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"

	"github.com/gcptoken/gcptoken/internal/winacl"
)

// createTemp creates a new file next to path for WriteAtomic. A private
// perm (nothing for group and others) becomes a protected DACL for the
// user, SYSTEM and Administrators, set by CreateFile itself so that no
// moment exists in which the file has the directory's inherited entries;
// other perms get Windows' defaults, as os.CreateTemp would.
func createTemp(path string, perm os.FileMode) (*os.File, error) {
	if perm&0o077 != 0 {
		return os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*"+TempSuffix)
	}
	sa, err := winacl.Attributes()
	if err != nil {
		return nil, err
	}
	for range 10 {
		var r [8]byte
		rand.Read(r[:])
		name := path + "." + hex.EncodeToString(r[:]) + TempSuffix
		p, err := windows.UTF16PtrFromString(name)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE, windows.FILE_SHARE_READ|windows.FILE_SHARE_DELETE,
			sa, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
		if errors.Is(err, windows.ERROR_FILE_EXISTS) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return os.NewFile(uintptr(h), name), nil
	}
	return nil, &os.PathError{Op: "open", Path: path + ".*" + TempSuffix, Err: os.ErrExist}
}

// replace renames tmp over path, both in one directory. It goes through
// os.Root, whose rename asks for POSIX semantics, so that a reader holding
// path open (sharing delete access, as ReadFile does) does not make it
// fail; where the file system or Windows version cannot do that, it waits
// for the reader (RetryIfBusy). os.Rename's MoveFileEx has neither.
func replace(tmp, path string) error {
	root, err := os.OpenRoot(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer root.Close()
	return RetryIfBusy(func() error { return root.Rename(filepath.Base(tmp), filepath.Base(path)) })
}
