//go:build !unix

package diskcache

import (
	"io/fs"
	"os"
)

// openNoFollow: os.Root already refuses links leaving the directory, and
// dir.openFile refuses symlinks by Lstat.
const openNoFollow = 0

// The checks below accept everything where Unix owners and permission bits
// do not exist (Windows reports 0666 for every writable file): the per-user
// cache directory's ACL is what protects entries there. Symlinks and
// non-regular files are still refused, by dir.openFile and Cache.open.

func checkPrivate(fs.FileInfo) error      { return nil }
func checkDirOwner(fs.FileInfo) error     { return nil }
func checkParent(fs.FileInfo) error       { return nil }
func tighten(*os.File, fs.FileInfo) error { return nil }
