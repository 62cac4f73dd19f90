//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd || windows

package diskcache

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Backoff bounds for polling a held lock. Neither flock nor LockFileEx on a
// synchronous handle has a timeout, so the wait honours ctx by polling a
// non-blocking attempt; fetches take tens to hundreds of milliseconds, so a
// 100ms ceiling wastes little.
const (
	lockPollMin = 2 * time.Millisecond
	lockPollMax = 100 * time.Millisecond
)

// lockFile takes an exclusive lock on f, an open lock file, waiting until it
// is free or ctx is done; it closes f on failure and on unlock. The lock
// (flock on Unix, LockFileEx on Windows) belongs to the open file, so two
// Cache values in one process exclude each other just as two processes do,
// and the kernel drops the lock if the process dies.
func lockFile(ctx context.Context, f *os.File) (unlock func(), err error) {
	wait := lockPollMin
	for {
		locked, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock token cache %s: %w", f.Name(), err)
		}
		if locked {
			return func() {
				unlockFile(f)
				f.Close()
			}, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, lockPollMax)
	}
}
