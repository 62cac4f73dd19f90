//go:build unix

package cli

import (
	"fmt"
	"syscall"
	"testing"
)

// closedPort returns a loopback URL on which nothing listens. The port is
// held by a bound socket that never listens until the test ends, so a
// connection is refused at once and no other test (or test binary running
// in parallel) can be handed the same port meanwhile, as happens with a
// listener that is opened and closed.
func closedPort(t *testing.T) string {
	t.Helper()
	// No SOCK_CLOEXEC, which macOS lacks: the fork lock keeps the socket
	// from leaking into a child started before CloseOnExec.
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
