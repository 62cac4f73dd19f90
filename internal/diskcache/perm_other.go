//go:build !unix

package diskcache

import "os"

// checkPrivate accepts everything where Unix permission bits do not exist
// (Windows reports 0666 for every writable file); the per-user cache
// directory's ACL is what protects entries there.
func checkPrivate(fi os.FileInfo) error { return nil }
