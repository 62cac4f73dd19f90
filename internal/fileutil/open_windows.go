package fileutil

import (
	"context"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// openContext opens path for reading, sharing read, write and delete
// access with everyone else. os.Open does not share delete access, and on
// Windows that makes another process's atomic replace of the file (a
// credential file being rewritten by gcloud or by gcptoken's WriteAtomic)
// fail while the file is being read. There are no FIFOs in Windows file
// systems whose open could block; named pipes live in their own namespace
// and fail to open when no server is listening.
func openContext(_ context.Context, path string) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_ATTRIBUTE_NORMAL|windows.FILE_FLAG_BACKUP_SEMANTICS, 0) // BACKUP_SEMANTICS: a directory opens too, and is then refused by its Stat
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}
