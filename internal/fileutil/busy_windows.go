package fileutil

import (
	"errors"
	"time"

	"golang.org/x/sys/windows"
)

// busyTimeout bounds RetryIfBusy, as cmd/go's robustio bounds its retries
// of the same errors: readers hold credential and cache files for
// milliseconds, but an antivirus scan can take longer.
const busyTimeout = 2 * time.Second

// RetryIfBusy runs op (a rename or remove) until it succeeds, fails for
// another reason than a file being open elsewhere, or busyTimeout passes.
// Replacing a file that another process has open fails on Windows without
// POSIX rename semantics (file systems other than NTFS, Windows before 10
// 1709, Wine) even when that process shares delete access; it succeeds
// once the reader closes the file.
func RetryIfBusy(op func() error) error {
	deadline := time.Now().Add(busyTimeout)
	wait := time.Millisecond
	for {
		err := op()
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait)
		wait = min(2*wait, 100*time.Millisecond)
	}
}

func isBusy(err error) bool {
	return errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_SHARING_VIOLATION) ||
		errors.Is(err, windows.ERROR_LOCK_VIOLATION)
}
