package fileutil

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// wantStopped checks that a read ended by ctx came back promptly with
// ctx's cause.
func wantStopped(t *testing.T, err error, start time.Time, cause error) {
	t.Helper()
	if !errors.Is(err, cause) {
		t.Fatalf("got error %v; want one wrapping %v", err, cause)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to give up; want about the 200ms deadline", d)
	}
}

func TestReadFileBounds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sparse := filepath.Join(dir, "sparse")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(2 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	growing := filepath.Join(dir, "growing")
	if err := os.WriteFile(growing, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A writer appends while the file is read: only the bound stops it.
	stopGrowing := make(chan struct{})
	t.Cleanup(func() { close(stopGrowing) })
	go func() {
		w, err := os.OpenFile(growing, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return
		}
		defer w.Close()
		chunk := []byte(strings.Repeat("x", 64<<10))
		for {
			select {
			case <-stopGrowing:
				return
			default:
				w.Write(chunk)
			}
		}
	}()
	for w, _ := os.Stat(growing); w.Size() < 2<<20; w, _ = os.Stat(growing) {
		time.Sleep(time.Millisecond)
	}

	tests := []struct {
		name string
		path string
		skip bool
	}{
		{"2 GiB sparse file", sparse, false},
		{"/dev/zero", "/dev/zero", runtime.GOOS == "windows"},
		{"file that keeps growing", growing, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip {
				t.Skipf("%s does not exist on %s", tt.path, runtime.GOOS)
			}
			start := time.Now()
			_, err := ReadFile(context.Background(), tt.path, 1<<20)
			var tl *TooLargeError
			if !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) || tl.Max != 1<<20 {
				t.Fatalf("ReadFile(%s) error = %v; want a *TooLargeError with Max 1 MiB", tt.path, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestReadFileProcEnviron(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("/proc/self/environ is Linux's")
	}
	// Size 0 in stat, yet it has content: the read must not trust Size.
	got, err := ReadFile(context.Background(), "/proc/self/environ", 1<<20)
	if err != nil || len(got) == 0 {
		t.Errorf("ReadFile(/proc/self/environ) = %d bytes, %v; want its content", len(got), err)
	}
}

func TestReadFileDirectoryAndMissing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := ReadFile(context.Background(), dir, 100); !errors.Is(err, ErrIsDirectory) {
		t.Errorf("ReadFile(dir) error = %v; want ErrIsDirectory", err)
	}
	if _, err := ReadFile(context.Background(), filepath.Join(dir, "nope"), 100); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile(missing) error = %v; want ErrNotExist", err)
	}
}

func TestReadAll(t *testing.T) {
	t.Parallel()
	t.Run("within the bound", func(t *testing.T) {
		t.Parallel()
		got, err := ReadAll(context.Background(), strings.NewReader("abc"), 3)
		if err != nil || string(got) != "abc" {
			t.Errorf("ReadAll = %q, %v; want abc", got, err)
		}
	})
	t.Run("over the bound", func(t *testing.T) {
		t.Parallel()
		_, err := ReadAll(context.Background(), strings.NewReader("abcd"), 3)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("ReadAll error = %v; want ErrTooLarge", err)
		}
	})
	t.Run("io.Pipe that never writes", func(t *testing.T) {
		t.Parallel()
		r, w := io.Pipe()
		defer w.Close() // releases the abandoned reader
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := ReadAll(ctx, r, 100)
		wantStopped(t, err, start, context.DeadlineExceeded)
	})
	t.Run("os.Pipe that never writes", func(t *testing.T) {
		t.Parallel()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		defer r.Close()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err = ReadAll(ctx, r, 100)
		wantStopped(t, err, start, context.Canceled)
	})
	t.Run("already ended", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := ReadAll(ctx, strings.NewReader("abc"), 3); !errors.Is(err, context.Canceled) {
			t.Errorf("ReadAll error = %v; want context.Canceled", err)
		}
	})
}
