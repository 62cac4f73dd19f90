//go:build !unix && !windows

package diskcache

import (
	"io/fs"
	"os"
)

// openNoFollow: os.Root already refuses links leaving the directory, and
// dir.openFile refuses symlinks by Lstat.
const openNoFollow = 0

func mkdirPrivate(path string) error { return os.MkdirAll(path, 0o700) }

// The checks below accept everything where neither Unix owners and
// permission bits nor Windows ACLs exist. Symlinks and non-regular files
// are still refused, by dir.openFile and Cache.open.

func checkPrivate(*os.File, fs.FileInfo) error    { return nil }
func checkDirOwner(*os.File, fs.FileInfo) error   { return nil }
func checkParent(string, fs.FileInfo) error       { return nil }
func tighten(string, *os.File, fs.FileInfo) error { return nil }
