//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

package diskcache

import (
	"errors"
	"os"
	"syscall"
)

// lockSupported tells tests whether lockFile really excludes other processes.
const lockSupported = true

// tryLock takes an exclusive flock on f without waiting; false means another
// open file holds it.
func tryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EINTR) {
		return false, nil
	}
	return err == nil, err
}

func unlockFile(f *os.File) { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
