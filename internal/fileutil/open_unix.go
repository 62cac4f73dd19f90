//go:build unix

package fileutil

import (
	"context"
	"io/fs"
	"os"
	"syscall"
)

// openContext opens path for reading. Only a FIFO's open can block (until
// a writer opens the other end), so only a FIFO is opened in a goroutine
// that ctx ending can abandon; anything else is opened directly.
func openContext(ctx context.Context, path string) (*os.File, error) {
	if st, err := os.Stat(path); err != nil || st.Mode().Type() != fs.ModeNamedPipe {
		return os.Open(path) // reports a Stat error too, with the path
	}
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := os.Open(path)
		done <- result{f, err}
	}()
	select {
	case r := <-done:
		return r.f, r.err
	case <-ctx.Done():
	}
	// Wake the blocked open: a FIFO's reader is released by a writer, and
	// a non-blocking open for writing succeeds while a reader waits (and
	// fails at once, harmlessly, if none does). Without this, the goroutine
	// and its thread would stay blocked until the process exits. Any other
	// reader blocked on the same FIFO wakes too, and reads end of file.
	if st, err := os.Stat(path); err == nil && st.Mode().Type() == fs.ModeNamedPipe {
		if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	}
	go func() {
		if r := <-done; r.f != nil {
			r.f.Close()
		}
	}()
	return nil, stopped(ctx)
}
