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
)

const exitCodeHelp = `Exit status:
  0  success
  1  other error
  2  usage error (unknown command or flag, missing argument)
  3  credentials error (missing, malformed or refused credentials, e.g. invalid_grant)
  4  token endpoint unreachable or failing (network error, timeout, HTTP 5xx/429)
  5  curl: the target answered with HTTP status >= 400`

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

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int {
	var ue *usageError
	var he *httpStatusError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &he):
		return ExitHTTP
	case errors.Is(err, gcptoken.ErrInvalidCredentials):
		return ExitCredentials
	case gcptoken.IsUnavailable(err):
		return ExitUnavailable
	}
	var te *gcptoken.Error
	if errors.As(err, &te) && te.StatusCode >= 400 && te.StatusCode < 500 {
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
