//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

package diskcache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockSupported tells tests whether lockFile really excludes other processes.
const lockSupported = true

// Backoff bounds for polling a held lock. flock has no timeout, so the wait
// honours ctx by polling LOCK_NB; fetches take tens to hundreds of
// milliseconds, so a 100ms ceiling wastes little.
const (
	lockPollMin = 2 * time.Millisecond
	lockPollMax = 100 * time.Millisecond
)

// lockFile takes an exclusive flock on f, an open lock file, waiting until
// it is free or ctx is done; it closes f on failure and on unlock. flock
// locks belong to the open file description, so two Cache values in one
// process exclude each other just as two processes do, and the kernel drops
// the lock if the process dies.
func lockFile(ctx context.Context, f *os.File) (unlock func(), err error) {
	wait := lockPollMin
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock token cache %s: %w", f.Name(), err)
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
