// Package safetext makes strings from outside (token claims, error
// descriptions from a token endpoint, upstream error bodies, login
// redirects) safe to print on a terminal or in a log line: control
// characters, text-reordering format characters and invalid UTF-8 are
// escaped, so a hostile value can neither move the cursor, rewrite the
// title bar, hide text nor break a line in two.
package safetext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape returns s with every character that could act on a terminal
// escaped in Go's notation: C0 and C1 controls and DEL (\n, \x1b, \u009b),
// Unicode's bidirectional and other format characters (\u202e), line and
// paragraph separators, and bytes that are not UTF-8 (\xff). Printable text,
// including non-ASCII letters, is kept as it is.
func Escape(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteByte(hexDigit[s[i]>>4])
			b.WriteByte(hexDigit[s[i]&0xf])
		case unsafeRune(r):
			writeEscaped(&b, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// OneLine folds runs of white space (newlines included) into one space,
// trims the ends and escapes what remains (see Escape): the form for error
// messages, which must stay on one line.
func OneLine(s string) string {
	return Escape(strings.Join(strings.Fields(s), " "))
}

// clean reports whether Escape would return s unchanged; the common case
// for ASCII text costs one pass and no allocation.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= utf8.RuneSelf {
			return cleanUnicode(s[i:])
		}
	}
	return true
}

func cleanUnicode(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafeRune(r) {
			return false
		}
		i += size
	}
	return true
}

// unsafeRune reports whether r may change what a terminal shows beyond
// itself: controls (Cc), format characters such as the bidi overrides and
// isolates and zero-width joiners (Cf), the line and paragraph separators
// (Zl, Zp), and surrogate code points.
func unsafeRune(r rune) bool {
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) ||
		unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) ||
		(0xD800 <= r && r <= 0xDFFF)
}

const hexDigit = "0123456789abcdef"

func writeEscaped(b *strings.Builder, r rune) {
	switch r {
	case '\n':
		b.WriteString(`\n`)
	case '\r':
		b.WriteString(`\r`)
	case '\t':
		b.WriteString(`\t`)
	default:
		if r < 0x100 {
			b.WriteString(`\x`)
			b.WriteByte(hexDigit[r>>4])
			b.WriteByte(hexDigit[r&0xf])
			return
		}
		b.WriteString(`\u`)
		for shift := 12; shift >= 0; shift -= 4 {
			b.WriteByte(hexDigit[(r>>uint(shift))&0xf])
		}
	}
}
