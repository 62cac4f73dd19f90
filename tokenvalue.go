package gcptoken

import (
	"errors"
	"fmt"
	"strings"
)

// MaxTokenLength bounds the size of a token value. Google's access tokens
// are at most 2 KiB and its ID tokens a little over 1 KiB; the bound leaves
// room for SAML and other subject tokens while keeping a hostile server from
// handing a program a multi-megabyte "token" to put in every header.
const MaxTokenLength = 64 << 10

// ErrMalformedToken marks a token value that is not a bearer token: empty,
// too long, or holding a character outside RFC 6750's b64token syntax.
// Test with errors.Is.
var ErrMalformedToken = errors.New("malformed token")

// CheckTokenValue reports whether v may be used as a bearer token: non-empty,
// at most MaxTokenLength bytes, and of RFC 6750's b64token syntax —
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". Every access
// token, ID token (a JWT is three base64url parts joined by dots) and
// subject token that Google or a federation source issues has that shape.
//
// Anything else came from a broken or hostile server or file, and could
// break out of a header, a shell `eval` or a terminal: gcptoken checks every
// token before it prints, caches, sends or serves it. The error names the
// offending byte and its offset, never the token.
func CheckTokenValue(v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: empty", ErrMalformedToken)
	case len(v) > MaxTokenLength:
		return fmt.Errorf("%w: %d bytes, more than the %d a token may have", ErrMalformedToken, len(v), MaxTokenLength)
	}
	padding := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '=':
			if i == 0 {
				return fmt.Errorf("%w: starts with '='", ErrMalformedToken)
			}
			padding = true
		case padding:
			return fmt.Errorf("%w: character %s at offset %d follows '=' padding", ErrMalformedToken, describeByte(c), i)
		case !b64tokenChar(c):
			return fmt.Errorf("%w: character %s at offset %d is not allowed in a bearer token", ErrMalformedToken, describeByte(c), i)
		}
	}
	return nil
}

// CheckTokenType reports whether t may stand before a token in an
// Authorization header: empty (meaning "Bearer") or one word of at most 32
// letters, digits, '-', '_' or '.' ("Bearer", "bearer", "N_A"). Errors wrap
// ErrMalformedToken.
func CheckTokenType(t string) error {
	if len(t) > 32 || strings.IndexFunc(t, func(r rune) bool {
		return !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0 {
		return fmt.Errorf("%w: its token_type is not one word of letters, digits, '-', '_' or '.'", ErrMalformedToken)
	}
	return nil
}

func b64tokenChar(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}

// describeByte names a byte without echoing anything a terminal would act
// on: printable ASCII as 'c', everything else as its hex value.
func describeByte(c byte) string {
	if 0x20 < c && c < 0x7f {
		return fmt.Sprintf("%q", c)
	}
	return fmt.Sprintf("0x%02x", c)
}
