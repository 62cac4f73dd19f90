package cli

import (
	"errors"
	"syscall"

	"golang.org/x/sys/windows"
)

// isConnectionRefused reports whether err says nothing listens at the
// address dialled. Winsock reports WSAECONNREFUSED, which is not the
// syscall package's ECONNREFUSED (an invented number on Windows).
func isConnectionRefused(err error) bool {
	return errors.Is(err, windows.WSAECONNREFUSED) || errors.Is(err, syscall.ECONNREFUSED)
}
