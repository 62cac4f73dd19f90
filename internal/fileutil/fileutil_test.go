package fileutil

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, content := range []string{"first", "second, longer content"} {
		if err := WriteAtomic(path, []byte(content), 0o600); err != nil {
			t.Fatalf("WriteAtomic: %v", err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("got %q; want %q", got, content)
		}
		assertPrivate(t, path)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("got %d files in the directory; want 1 (no temporary leftovers)", len(entries))
	}
}

func TestWriteAtomicMissingDirectory(t *testing.T) {
	t.Parallel()
	err := WriteAtomic(filepath.Join(t.TempDir(), "no", "such", "dir", "f"), []byte("x"), 0o600)
	if err == nil {
		t.Fatal("got no error writing into a missing directory")
	}
}

// TestWriteAtomicWhileReaderHoldsFile: a replace succeeds while another
// reader (gcloud, another gcptoken) holds the file open through ReadFile's
// open, and that reader keeps reading the old content. On Windows this
// needs the reader to share delete access and the rename to have POSIX
// semantics, or, where it cannot (Wine, FAT), a retry until the reader
// closes the file.
func TestWriteAtomicWhileReaderHoldsFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "application_default_credentials.json")
	if err := WriteAtomic(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	held, err := openContext(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- WriteAtomic(path, []byte("new"), 0o600) }()
	time.Sleep(200 * time.Millisecond)
	old, err := io.ReadAll(held)
	held.Close()
	if err != nil || string(old) != "old" {
		t.Errorf("the reader's open file = %q, %v; want old", old, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("WriteAtomic while a reader holds the file open: %v", err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "new" {
		t.Errorf("after the replace: %q, %v; want new", got, err)
	}
}
