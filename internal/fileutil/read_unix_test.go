//go:build unix

package fileutil

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// mkfifo makes a named pipe in the test's directory; it skips where the
// platform has none.
func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	return p
}

func TestReadFileEndsWithContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T) string
	}{
		{"FIFO with no writer", mkfifo},
		{"FIFO whose writer never writes", func(t *testing.T) string {
			p := mkfifo(t)
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			go func() {
				w, err := os.OpenFile(p, os.O_WRONLY, 0)
				if err != nil {
					return
				}
				<-release
				w.Close()
			}()
			return p
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tt.setup(t)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := ReadFile(ctx, p, 1<<20)
			wantStopped(t, err, start, context.DeadlineExceeded)
		})
	}
}

func TestReadFileFIFOWithWriter(t *testing.T) {
	t.Parallel()
	p := mkfifo(t)
	go func() {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		io.WriteString(w, `{"type": "x"}`)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := ReadFile(ctx, p, 1<<20)
	if err != nil || string(got) != `{"type": "x"}` {
		t.Errorf("ReadFile = %q, %v; want the writer's JSON", got, err)
	}
}

func TestReadFileCancelUnblocksFIFOOpen(t *testing.T) {
	t.Parallel()
	p := mkfifo(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := ReadFile(ctx, p, 1<<20)
	wantStopped(t, err, start, context.Canceled)
	// The abandoned open was woken: a writer's non-blocking open now finds
	// no reader left.
	deadline := time.Now().Add(5 * time.Second)
	for {
		w, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			break // ENXIO: nobody has it open for reading
		}
		w.Close()
		if time.Now().After(deadline) {
			t.Fatal("the FIFO still has a reader 5s after ReadFile gave up: the open was not woken")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
