package diskcache

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockSupported tells tests whether lockFile really excludes other processes.
const lockSupported = true

// lockRange is the byte range every lock covers: all of it, as Go's own
// cmd/go/internal/lockedfile does. Locks on Windows are mandatory for the
// bytes they cover, but lock files are empty and never read or written.
const lockRange = ^uint32(0)

// tryLock takes an exclusive LockFileEx lock on f without waiting; false
// means another handle holds it. Windows locks belong to the handle, as
// flock locks belong to the open file, and are released when the process
// exits.
func tryLock(f *os.File) (bool, error) {
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, lockRange, lockRange, new(windows.Overlapped))
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return false, nil
	}
	return err == nil, err
}

func unlockFile(f *os.File) {
	windows.UnlockFileEx(windows.Handle(f.Fd()), 0, lockRange, lockRange, new(windows.Overlapped))
}
