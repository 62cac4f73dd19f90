package idtoken

import (
	"errors"
	"fmt"
	"strings"
)

// Reasons a token is rejected, in VerifyError.Reason.
const (
	// ReasonMalformed: not a compact JWS, over MaxTokenSize, undecodable
	// header or claims, a required claim missing or of the wrong type.
	ReasonMalformed = "malformed"
	// ReasonAlgorithm: the header's alg is not allowed ("none", HS256, …),
	// or does not fit the key named by kid.
	ReasonAlgorithm = "algorithm"
	// ReasonSignature: the signature does not verify with the named key.
	ReasonSignature = "signature"
	// ReasonIssuer: iss is not one of the accepted issuers.
	ReasonIssuer = "issuer"
	// ReasonAudience: no aud value is one of the accepted audiences.
	ReasonAudience = "audience"
	// ReasonExpired: exp is in the past, beyond the clock skew.
	ReasonExpired = "expired"
	// ReasonNotYetValid: iat or nbf is in the future, beyond the clock skew.
	ReasonNotYetValid = "not_yet_valid"
	// ReasonUnknownKey: the key set, even after a refetch, has no key with
	// the token's kid.
	ReasonUnknownKey = "unknown_key"
	// ReasonKeySet: the signing keys could not be obtained (endpoint down,
	// HTTP error, not a JWKS), so the token could not be checked. Unlike the
	// other reasons this says nothing about the token; Err holds the cause.
	ReasonKeySet = "keyset"
)

// VerifyError is why a token was rejected.
type VerifyError struct {
	// Reason is one of the Reason… constants.
	Reason string
	// Message is one line naming the fact that failed, e.g.
	// `audience "x" is not one of ["y"]`. It never contains the token.
	Message string
	// Claims are the token's claims when its signature did verify but a
	// claim check failed (issuer, audience, expired, not_yet_valid); nil
	// otherwise. They are authentic but the token is still rejected.
	Claims *Claims
	// Err is the underlying cause for ReasonKeySet (a *gcptoken.Error for
	// HTTP and network failures, or a context error), else usually nil.
	Err error
}

func (e *VerifyError) Error() string { return e.Message }

func (e *VerifyError) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of the *VerifyError in err's chain, or "".
func ReasonOf(err error) string {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return ""
}

func rejectf(reason, format string, args ...any) *VerifyError {
	return &VerifyError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// maxQuoted bounds how much of an attacker-chosen string (kid, iss, aud)
// goes into an error message, so one bad token cannot flood a log line.
const maxQuoted = 128

// q quotes s for a message, truncated to maxQuoted bytes.
func q(s string) string {
	if len(s) > maxQuoted {
		return fmt.Sprintf("%q…", s[:maxQuoted])
	}
	return fmt.Sprintf("%q", s)
}

// qList formats a list the way the messages show it: ["a" "b"].
func qList(list []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range list {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(q(s))
	}
	b.WriteByte(']')
	return b.String()
}
