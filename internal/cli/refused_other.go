//go:build !windows

package cli

import (
	"errors"
	"syscall"
)

// isConnectionRefused reports whether err says nothing listens at the
// address dialled.
func isConnectionRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
