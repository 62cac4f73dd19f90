package cli

import (
	"errors"
	"fmt"

	"github.com/gcptoken/gcptoken"
)

// Exit codes. They are part of the interface (scripts test them) and are
// listed in `gcptoken --help`.
const (
	ExitOK          = 0
	ExitError       = 1 // anything not covered below
	ExitUsage       = 2 // bad command line: unknown flag, missing argument
	ExitCredentials = 3 // no/invalid credentials, or the token server refused them
	ExitUnavailable = 4 // a token endpoint could not be reached or failed (network, 5xx)
	ExitHTTP        = 5 // `curl`: the target answered with HTTP status >= 400
	ExitTarget      = 6 // `curl`: the target could not be reached (DNS, connection, TLS, timeout)
	ExitListen      = 7 // a server could not listen on its address (in use, not allowed)
)

const exitCodeHelp = `Exit status:
  0  success
  1  other error
  2  usage error (unknown command or flag, missing argument)
  3  credentials error (missing, malformed or refused credentials, e.g. invalid_grant)
  4  token endpoint unreachable or failing (network error, timeout, HTTP 5xx/429,
     or tokens that arrive already expired: clock skew)
  5  curl: the target answered with HTTP status >= 400
  6  curl: the target could not be reached (DNS, connection, TLS, timeout)
  7  a server (proxy, metadata-server, emulator, login) could not listen on its
     address (in use, not allowed)`

// usageError marks a bad command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// httpStatusError is returned by `curl` when the target answers >= 400.
type httpStatusError struct{ status int }

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("the server answered HTTP %d", e.status)
}

// targetError is a `curl` request that got no answer from its target: not
// a token endpoint's failure.
type targetError struct{ err error }

func (e *targetError) Error() string { return e.err.Error() }
func (e *targetError) Unwrap() error { return e.err }

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int {
	var ue *usageError
	var he *httpStatusError
	var te *targetError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &he):
		return ExitHTTP
	case errors.As(err, &te):
		return ExitTarget
	case isListenError(err):
		return ExitListen
	case errors.Is(err, gcptoken.ErrInvalidCredentials):
		return ExitCredentials
	case errors.Is(err, gcptoken.ErrClockSkew), gcptoken.IsUnavailable(err):
		return ExitUnavailable
	}
	var tf *timeoutFailure
	if errors.As(err, &tf) {
		// A wait that ended in its deadline: nothing answered in time.
		return ExitUnavailable
	}
	var ge *gcptoken.Error
	if errors.As(err, &ge) && ge.StatusCode >= 400 && ge.StatusCode < 500 {
		// The server refused the request for a reason other than the
		// credential itself (bad scope, bad audience): still the user's
		// input, not an outage.
		return ExitCredentials
	}
	return ExitError
}

// credentialError is a bad token or credential given on the command line;
// it maps to ExitCredentials without the sentinel's text in the message.
type credentialError struct{ msg string }

func (e *credentialError) Error() string { return e.msg }

func (e *credentialError) Is(target error) bool { return target == gcptoken.ErrInvalidCredentials }

func credentialErrorf(format string, args ...any) error {
	return &credentialError{msg: fmt.Sprintf(format, args...)}
}
