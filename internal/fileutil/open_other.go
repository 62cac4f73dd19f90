//go:build !unix && !windows

package fileutil

import (
	"context"
	"os"
)

// openContext opens path for reading. These platforms have no FIFOs in
// the file system whose open blocks.
func openContext(_ context.Context, path string) (*os.File, error) {
	return os.Open(path)
}
