package idtoken

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// Claims are the claims of a verified ID token. A Verifier returns the
// same *Claims each time it verifies the same token (see
// Options.CacheSize), so they are read-only.
type Claims struct {
	// Issuer is iss, e.g. "https://accounts.google.com".
	Issuer string
	// Subject is sub: the service account's unique id or the user's id.
	Subject string
	// Email is the email claim, "" when absent (Google puts it in only for
	// some minting paths, e.g. IAM generateIdToken with includeEmail).
	Email string
	// EmailVerified is email_verified (Google sends a boolean; the string
	// forms "true" and "false" are accepted too).
	EmailVerified bool
	// Audience is aud, always as a list (the JWT may carry a string).
	Audience []string
	// AuthorizedParty is azp, "" when absent.
	AuthorizedParty string
	// IssuedAt, Expiry and NotBefore are iat, exp and nbf; zero when absent.
	IssuedAt, Expiry, NotBefore time.Time
	// Raw is every claim as encoding/json decodes it into an any (numbers
	// are float64, exact for integers below 2^53, which covers Google's
	// project numbers). Nested objects such as "google" (metadata-server
	// tokens) are only here.
	Raw map[string]any
}

// HasAudience reports whether aud is one of the token's audiences.
func (c *Claims) HasAudience(aud string) bool { return slices.Contains(c.Audience, aud) }

// Principal returns who the token names: the email when there is one, else
// the subject.
func (c *Claims) Principal() string {
	if c.Email != "" {
		return c.Email
	}
	return c.Subject
}

// parseClaims decodes a JWT payload. Type errors in the registered claims
// make the token malformed: a verifier must not guess what "exp":"soon"
// means.
func parseClaims(payload []byte) (*Claims, error) {
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil || raw == nil {
		return nil, fmt.Errorf("the claims are not a JSON object")
	}
	c := &Claims{Raw: raw}
	var err error
	str := func(name string, dst *string) {
		v, ok := raw[name]
		if !ok || err != nil {
			return
		}
		s, isStr := v.(string)
		if !isStr {
			err = fmt.Errorf("claim %q is %s; want a string", name, jsonKind(v))
			return
		}
		*dst = s
	}
	num := func(name string, dst *time.Time) {
		v, ok := raw[name]
		if !ok || err != nil {
			return
		}
		*dst, err = numericDate(name, v)
	}
	str("iss", &c.Issuer)
	str("sub", &c.Subject)
	str("email", &c.Email)
	str("azp", &c.AuthorizedParty)
	num("iat", &c.IssuedAt)
	num("exp", &c.Expiry)
	num("nbf", &c.NotBefore)
	if err != nil {
		return nil, err
	}
	switch v := raw["email_verified"].(type) {
	case nil:
	case bool:
		c.EmailVerified = v
	case string:
		if v != "true" && v != "false" {
			return nil, fmt.Errorf("claim \"email_verified\" is %q; want true or false", v)
		}
		c.EmailVerified = v == "true"
	default:
		return nil, fmt.Errorf("claim \"email_verified\" is %s; want a boolean", jsonKind(v))
	}
	switch v := raw["aud"].(type) {
	case nil:
	case string:
		c.Audience = []string{v}
	case []any:
		c.Audience = make([]string, 0, len(v))
		for _, a := range v {
			s, ok := a.(string)
			if !ok {
				return nil, fmt.Errorf("claim \"aud\" holds %s; want strings", jsonKind(a))
			}
			c.Audience = append(c.Audience, s)
		}
	default:
		return nil, fmt.Errorf("claim \"aud\" is %s; want a string or a list of strings", jsonKind(v))
	}
	return c, nil
}

// maxNumericDate is the year 10000: beyond it a time claim is garbage, and
// bounding it keeps the float-to-int conversion defined.
const maxNumericDate = 253402300800

// numericDate converts a JWT NumericDate (seconds since the epoch, possibly
// fractional) to a time.
func numericDate(name string, v any) (time.Time, error) {
	f, ok := v.(float64)
	if !ok {
		return time.Time{}, fmt.Errorf("claim %q is %s; want a number", name, jsonKind(v))
	}
	if f < 0 || f > maxNumericDate {
		return time.Time{}, fmt.Errorf("claim %q = %v is out of range", name, f)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
