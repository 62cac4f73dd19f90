package cli

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"

	"github.com/gcptoken/gcptoken/oauthflow"
)

// listenFailure is a server's address that could not be bound, worded for
// the flag that named it; exitCode maps it to ExitListen.
type listenFailure struct {
	flag string // "--listen"; "" when no flag named the address
	addr string
	err  error
}

func (e *listenFailure) Error() string {
	if e.flag == "" {
		return fmt.Sprintf("cannot listen on %s: %s", e.addr, listenReason(e.err))
	}
	return fmt.Sprintf("%s %s: %s", e.flag, e.addr, listenReason(e.err))
}

func (e *listenFailure) Unwrap() error { return e.err }

// listenError wraps the failure to listen on addr, which flag named.
func listenError(flag, addr string, err error) error {
	return &listenFailure{flag: flag, addr: addr, err: err}
}

// isListenError reports whether err is a failure to bind a listening
// socket, wherever it was made (the proxy, the metadata server, the
// emulator's library, the login flow's redirect listener).
func isListenError(err error) bool {
	var oe *net.OpError
	var le *oauthflow.ListenError
	var lf *listenFailure
	return errors.As(err, &lf) || errors.As(err, &le) || errors.As(err, &oe) && oe.Op == "listen"
}

// listenReason says why an address could not be bound and what to do, in
// words: net's own text ("listen tcp 127.0.0.1:8086: bind: address already
// in use") repeats the address and says nothing of what to do.
func listenReason(err error) string {
	var errno syscall.Errno
	errors.As(err, &errno)
	switch {
	case addrInUse(errno):
		return "the address is in use: another program (another gcptoken?) listens there; stop it, or pick another port"
	case errno == syscall.EACCES || errno == syscall.EPERM:
		return "not allowed to listen there (ports below 1024 need privileges); pick a port above 1024"
	case errno == syscall.EADDRNOTAVAIL:
		return "this machine has no such address; use 127.0.0.1 (this machine only) or another of its addresses"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// addrInUse is EADDRINUSE, or WSAEADDRINUSE (10048) on Windows, whose
// syscall.Errno differs.
func addrInUse(errno syscall.Errno) bool {
	return errno == syscall.EADDRINUSE || runtime.GOOS == "windows" && errno == 10048
}

// listenFlag finds which of flags (flag name → address given) named the
// address that err failed to bind: the address as given, or as it
// resolves. It returns "" when none did.
func listenFlag(err error, flags [][2]string) (flag, addr string) {
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Addr == nil {
		return "", ""
	}
	for _, f := range flags {
		if f[1] == "" {
			continue
		}
		if f[1] == oe.Addr.String() {
			return f[0], f[1]
		}
		if a, rerr := net.ResolveTCPAddr("tcp", f[1]); rerr == nil && a.String() == oe.Addr.String() {
			return f[0], f[1]
		}
	}
	return "", oe.Addr.String()
}
