//go:build !windows

package fileutil

import (
	"os"
	"path/filepath"
)

// createTemp creates a new file next to path for WriteAtomic, with perm
// set before anything is written.
func createTemp(path string, perm os.FileMode) (*os.File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*"+TempSuffix)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// replace renames tmp over path.
func replace(tmp, path string) error { return os.Rename(tmp, path) }
