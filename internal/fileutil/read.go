package fileutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// ErrTooLarge marks input longer than the caller's bound. Test with
// errors.Is; the error itself is a *TooLargeError.
var ErrTooLarge = errors.New("too large")

// ErrIsDirectory is ReadFile's error for a directory.
var ErrIsDirectory = errors.New("is a directory")

// TooLargeError is input over the bound a caller gave ReadFile or ReadAll.
type TooLargeError struct {
	// Size is the file's size when it is a regular file, else -1: a pipe
	// or device has no size, and reading stopped at Max+1 bytes.
	Size int64
	// Max is the bound.
	Max int64
}

func (e *TooLargeError) Error() string {
	if e.Size >= 0 {
		return fmt.Sprintf("is %d bytes, larger than %d", e.Size, e.Max)
	}
	return fmt.Sprintf("is larger than %d bytes", e.Max)
}

func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// ReadFile reads the file at path, which must hold at most maxBytes, and
// gives up when ctx ends: a credential or token path may name a FIFO with
// no writer (whose open blocks), a pipe whose writer never writes,
// /dev/zero, or a file that keeps growing, and none of them may hang a
// command that SIGINT, SIGTERM or a timeout should end. A regular file
// larger than maxBytes is refused before a byte is read; anything else is
// read to at most maxBytes+1 bytes. Errors from opening are *fs.PathError
// (errors.Is(err, fs.ErrNotExist) works); a directory gives
// ErrIsDirectory, too much input an error matching ErrTooLarge, and ctx
// ending an error wrapping context.Cause(ctx).
func ReadFile(ctx context.Context, path string, maxBytes int64) ([]byte, error) {
	if ctx.Err() != nil {
		return nil, stopped(ctx)
	}
	f, err := openContext(ctx, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	switch {
	case st.IsDir():
		return nil, ErrIsDirectory
	case st.Mode().IsRegular() && st.Size() > maxBytes:
		// A 2 GiB sparse file is refused at once; /proc files report
		// size 0 and are read (and bounded) like pipes.
		return nil, &TooLargeError{Size: st.Size(), Max: maxBytes}
	case st.Mode().IsRegular():
		// A regular file's reads do not wait on anyone, and its size is
		// bounded: read it here, without a goroutine, and without
		// waiting on ctx (which, for the CLI, would install its signal
		// handler).
		return readBounded(f, maxBytes)
	}
	return ReadAll(ctx, f, maxBytes)
}

// ReadAll reads r to its end, which must come within maxBytes, and gives
// up when ctx ends. When r is an *os.File the runtime can poll (a pipe, a
// FIFO, a socket, a terminal opened by path), ctx ending interrupts the
// read itself. Otherwise (standard input, which is usually in blocking
// mode, or any other reader) the read runs in a goroutine that ReadAll
// abandons when ctx ends: the goroutine lives until its Read returns, so
// the caller must not use r again, which for a command about to exit is
// no loss.
func ReadAll(ctx context.Context, r io.Reader, maxBytes int64) ([]byte, error) {
	if ctx.Err() != nil {
		return nil, stopped(ctx)
	}
	if f, ok := r.(*os.File); ok && f.SetReadDeadline(time.Time{}) == nil {
		return readPollable(ctx, f, maxBytes)
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := readBounded(r, maxBytes)
		done <- result{data, err}
	}()
	select {
	case res := <-done:
		return res.data, res.err
	case <-ctx.Done():
		return nil, stopped(ctx)
	}
}

// readPollable reads f with a read deadline that ctx ending moves into the
// past, which wakes a Read blocked in the runtime's poller.
func readPollable(ctx context.Context, f *os.File, maxBytes int64) ([]byte, error) {
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Unix(1, 0)) })
	data, err := readBounded(f, maxBytes)
	if stop() {
		// ctx did not end: f (perhaps standard input) is left as it was.
		return data, err
	}
	return nil, stopped(ctx)
}

func readBounded(r io.Reader, maxBytes int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxBytes {
		return nil, &TooLargeError{Size: -1, Max: maxBytes}
	}
	return data, nil
}

// stopped is the error for a read that ctx ended.
func stopped(ctx context.Context) error {
	return fmt.Errorf("stopped reading: %w", context.Cause(ctx))
}
