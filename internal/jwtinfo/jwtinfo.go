package jwtinfo

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// MaxSize is the largest token Decode accepts. Google's tokens are 1-3 KiB;
// the cap keeps a pasted log file or a hostile input from costing much.
const MaxSize = 64 << 10

// Decoded is a JWT taken apart. It says what the token claims, not whether
// the claims are true: see the package documentation.
type Decoded struct {
	// Header is the JOSE header. It always has a string "alg", which may be
	// "none": an unsigned token decodes fine, and the caller decides how
	// loudly to report it.
	Header map[string]any
	// Claims is the payload. Numbers are json.Number, so large integers
	// such as project numbers keep every digit.
	Claims map[string]any
	// Signature is the decoded third segment; empty for unsigned tokens.
	Signature []byte
	// Raw is the token as decoded, after trimming surrounding whitespace.
	Raw string
}

// Decode splits token into header, claims and signature and decodes each.
//
// Segments must be base64url (RFC 7515). Trailing "=" padding is tolerated,
// because some tools emit it and refusing a token a human pasted over it
// helps nobody; the standard alphabet ("+", "/") is refused, since it means
// the input is not a JWT at all. Surrounding whitespace (a trailing newline
// from a file or a pipe) is trimmed.
//
// The header must be a JSON object with a string "alg"; the claims must be
// a JSON object. Encrypted tokens (JWE, five segments) are not supported.
func Decode(token string) (*Decoded, error) {
	token = strings.TrimSpace(token)
	if len(token) > MaxSize {
		return nil, fmt.Errorf("not a JWT: %d bytes, more than the %d allowed", len(token), MaxSize)
	}
	if token == "" {
		return nil, errors.New("not a JWT: empty")
	}
	// Count before splitting so a hostile input of dots allocates nothing.
	if n := strings.Count(token, ".") + 1; n != 3 {
		if n == 5 {
			return nil, fmt.Errorf("not a JWT: has %d segments, want 3 (encrypted JWE tokens are not supported)", n)
		}
		return nil, fmt.Errorf("not a JWT: has %d segments, want 3", n)
	}
	segs := strings.Split(token, ".")

	header, err := decodeObject("header", segs[0])
	if err != nil {
		return nil, err
	}
	switch alg, ok := header["alg"]; {
	case !ok:
		return nil, errors.New(`header: missing "alg"`)
	case !isString(alg):
		return nil, fmt.Errorf(`header: "alg" is %s, want a string`, jsonType(alg))
	}
	claims, err := decodeObject("claims", segs[1])
	if err != nil {
		return nil, err
	}
	sig, err := decodeSegment(segs[2])
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	return &Decoded{Header: header, Claims: claims, Signature: sig, Raw: token}, nil
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}

// decodeSegment decodes one base64url segment, tolerating "=" padding.
func decodeSegment(seg string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return nil, fmt.Errorf("bad base64url: %w", err)
	}
	return b, nil
}

// decodeObject decodes a segment holding exactly one JSON object.
func decodeObject(what, seg string) (map[string]any, error) {
	if seg == "" {
		return nil, fmt.Errorf("%s: empty", what)
	}
	b, err := decodeSegment(seg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: bad JSON: %w", what, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: not a JSON object (got %s)", what, jsonType(v))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: bad JSON: data after the object", what)
	}
	return obj, nil
}

// jsonType names a decoded JSON value's type for error messages.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// Expiry returns the "exp" claim. ok is false if it is absent or not a
// number that fits a time.Time.
func (d *Decoded) Expiry() (t time.Time, ok bool) { return d.numericDate("exp") }

// IssuedAt returns the "iat" claim. ok is false if it is absent or not a
// number that fits a time.Time.
func (d *Decoded) IssuedAt() (t time.Time, ok bool) { return d.numericDate("iat") }

// maxSeconds bounds a NumericDate to ±2^53 seconds: every such value is
// exact as a float64, and well inside time.Time's range.
const maxSeconds = 1 << 53

// numericDate reads an RFC 7519 NumericDate: seconds since the epoch, which
// may have a fractional part.
func (d *Decoded) numericDate(name string) (time.Time, bool) {
	if d == nil {
		return time.Time{}, false
	}
	var f float64
	switch v := d.Claims[name].(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			if i > maxSeconds || i < -maxSeconds {
				return time.Time{}, false
			}
			return time.Unix(i, 0), true
		}
		var err error
		if f, err = v.Float64(); err != nil {
			return time.Time{}, false
		}
	case float64: // a Decoded built by hand rather than by Decode
		f = v
	default:
		return time.Time{}, false
	}
	if math.IsNaN(f) || f > maxSeconds || f < -maxSeconds {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))), true
}

// Audience returns the "aud" claim, which RFC 7519 allows to be a string or
// an array of strings. Non-string array elements are skipped; a missing or
// malformed claim gives nil.
func (d *Decoded) Audience() []string {
	if d == nil {
		return nil
	}
	switch v := d.Claims["aud"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Describe says how far away d is in words: "in 59 minutes", "3 hours ago",
// "in 12 seconds", or "now" within a second. It uses the largest whole unit
// (seconds, minutes, hours, days) and truncates, so a token with 59m59s left
// reads "in 59 minutes", never rounding up to a lifetime it does not have.
func Describe(d time.Duration) string {
	past := d < 0
	if past {
		d = -d
		if d < 0 { // -math.MinInt64 overflows back to itself
			d = math.MaxInt64
		}
	}
	var n int64
	var unit string
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		n, unit = int64(d/time.Second), "second"
	case d < time.Hour:
		n, unit = int64(d/time.Minute), "minute"
	case d < 24*time.Hour:
		n, unit = int64(d/time.Hour), "hour"
	default:
		n, unit = int64(d/(24*time.Hour)), "day"
	}
	if n != 1 {
		unit += "s"
	}
	if past {
		return fmt.Sprintf("%d %s ago", n, unit)
	}
	return fmt.Sprintf("in %d %s", n, unit)
}

// LooksLikeJWT reports whether s decodes as a JWT. It is a full Decode, not
// a prefix check: Google access tokens ("ya29.…") also contain dots, and
// `gcptoken info` must not mistake one for a JWT.
func LooksLikeJWT(s string) bool {
	_, err := Decode(s)
	return err == nil
}
