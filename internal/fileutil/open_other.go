//go:build !unix

package fileutil

import (
	"context"
	"os"
)

// openContext opens path for reading. Outside Unix there are no FIFOs in
// the file system whose open blocks; named pipes on Windows live in their
// own namespace and fail to open when no server is listening.
func openContext(_ context.Context, path string) (*os.File, error) {
	return os.Open(path)
}
