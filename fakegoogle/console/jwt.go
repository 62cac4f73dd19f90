package console

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken/internal/jwtinfo"
)

// jwtView is a JWT decoded for display: never the token itself, only its
// header, its claims, a fingerprint and what the console found when it
// checked it.
type jwtView struct {
	N           int    // its number within the exchange, from 1
	Where       string // where it was found, e.g. "request form assertion"
	Role        string // what it is there, e.g. "service-account assertion"
	Length      int
	Fingerprint string
	Header      string // pretty JSON
	Claims      string // pretty JSON
	Error       string // why it could not be decoded, "" when it was
	// Times are its iat, nbf and exp, present or not.
	Times []namedTime
	// Checks are what the console found, as of the request.
	Checks []check
}

type namedTime struct {
	Name string
	At   time.Time
}

// check is one finding about a token: State is "pass", "fail" or "note".
type check struct{ State, Text string }

// Limits the fake applies to jwt-bearer assertions (fakegoogle's
// maxAssertionLifetime and maxAssertionSkew), for the console's checks.
const (
	assertionMaxLifetime = time.Hour
	clockSkewAllowed     = 5 * time.Minute
)

// decodeJWT decodes token for display and checks it as of at: the time of
// the request it came with, or now for a pasted token; signer says which
// of the fake's keys signed it (fakegoogle.Server.JWTSigner).
func decodeJWT(where, token string, at clockRef, signer func(string) (string, bool)) *jwtView {
	v := &jwtView{Where: where, Role: jwtRole(where), Length: len(token), Fingerprint: fingerprint(token)}
	d, err := jwtinfo.Decode(token)
	if err != nil {
		v.Error = err.Error()
		return v
	}
	v.Header = prettyJSON(d.Header)
	v.Claims = prettyJSON(d.Claims)
	for _, name := range []string{"iat", "nbf", "exp"} {
		if t, ok := numericDate(d, name); ok {
			v.Times = append(v.Times, namedTime{name, t})
		}
	}
	who, ok := signer(token)
	if ok {
		v.Checks = append(v.Checks, check{"pass", "Signature verified: signed by " + who + "."})
	} else {
		v.Checks = append(v.Checks, check{"fail", "Signature not verified: " + who + "."})
	}
	v.Checks = append(v.Checks, timeChecks(d, at, v.Role)...)
	if aud := d.Audience(); len(aud) > 0 {
		v.Checks = append(v.Checks, check{"note", "Audience: " + strings.Join(aud, ", ") + "."})
	}
	return v
}

// jwtRole names what a JWT found at where is.
func jwtRole(where string) string {
	w := strings.ToLower(where)
	switch {
	case strings.HasSuffix(w, "assertion") && strings.Contains(w, "iap"):
		return "IAP assertion"
	case strings.HasSuffix(w, "assertion"):
		return "service-account assertion (jwt-bearer grant)"
	case strings.HasSuffix(w, "subject_token"):
		return "external subject token (STS token exchange)"
	case strings.HasSuffix(w, "id_token"), strings.HasSuffix(w, ".token"):
		return "ID token"
	case strings.HasSuffix(w, "signedjwt"):
		return "JWT signed by IAM (signJwt)"
	case strings.Contains(w, "authorization"):
		return "bearer token (an ID token, or a self-signed JWT)"
	}
	return "JWT"
}

// clockRef is the moment a token is judged at: a request's time
// (label "the request"), or now (label "").
type clockRef struct {
	t     time.Time
	label string
}

func atRequest(t time.Time) clockRef { return clockRef{t, "the request"} }
func atNow(t time.Time) clockRef     { return clockRef{t: t} }

// before and after say how far a time is from the reference.
func (c clockRef) before(d time.Duration) string {
	if c.label == "" {
		return words(d) + " ago"
	}
	return words(d) + " before " + c.label
}

func (c clockRef) after(d time.Duration) string {
	if c.label == "" {
		return "in " + words(d)
	}
	return words(d) + " after " + c.label
}

// relative says when t was, seen from the reference.
func (c clockRef) relative(t time.Time) string {
	d := t.Sub(c.t)
	switch {
	case d > -time.Second && d < time.Second && c.label == "":
		return "just now"
	case d > -time.Second && d < time.Second:
		return "at the time of " + c.label
	case d < 0:
		return c.before(-d)
	}
	return c.after(d)
}

// timeChecks judges iat and exp as of the reference: expired, not yet
// valid, or too long-lived for an assertion.
func timeChecks(d *jwtinfo.Decoded, at clockRef, role string) []check {
	var out []check
	iat, hasIat := numericDate(d, "iat")
	exp, hasExp := numericDate(d, "exp")
	switch {
	case !hasExp:
		out = append(out, check{"fail", "No exp claim: Google refuses tokens without an expiry."})
	case !exp.After(at.t):
		out = append(out, check{"fail", "Expired " + at.before(at.t.Sub(exp)) + " (exp " + stamp(exp) + ")."})
	case at.label == "":
		out = append(out, check{"pass", "Not expired: " + words(exp.Sub(at.t)) + " left."})
	default:
		out = append(out, check{"pass", "Not expired at " + at.label + ": it had " + words(exp.Sub(at.t)) + " left."})
	}
	switch {
	case !hasIat:
		out = append(out, check{"note", "No iat claim."})
	case iat.After(at.t.Add(clockSkewAllowed)):
		out = append(out, check{"fail", fmt.Sprintf("Issued %s by the fake's clock: the signer's clock runs ahead (more than %s of skew).", at.after(iat.Sub(at.t)), words(clockSkewAllowed))})
	default:
		out = append(out, check{"pass", "Issued " + at.relative(iat) + "."})
	}
	if strings.HasPrefix(role, "service-account assertion") && hasIat && hasExp && exp.Sub(iat) > assertionMaxLifetime {
		out = append(out, check{"fail", fmt.Sprintf("Lifetime %s: Google takes assertions of at most an hour (exp - iat ≤ 3600).", exp.Sub(iat))})
	}
	return out
}

// numericDate reads a NumericDate claim.
func numericDate(d *jwtinfo.Decoded, name string) (time.Time, bool) {
	switch name {
	case "exp":
		return d.Expiry()
	case "iat":
		return d.IssuedAt()
	}
	n, ok := d.Claims[name].(json.Number)
	if !ok {
		return time.Time{}, false
	}
	i, err := n.Int64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(i, 0), true
}

// words is a duration in words, without direction: "5 minutes".
func words(d time.Duration) string {
	return strings.TrimPrefix(jwtinfo.Describe(d), "in ")
}

// stamp is a time for display: UTC, to the second.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// prettyJSON indents v; HTML is left unescaped, as the templates escape
// it.
func prettyJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
