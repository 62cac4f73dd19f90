package fileutil

import (
	"os"
	"path/filepath"
	"testing"
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
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("got mode %o; want 600", perm)
		}
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
