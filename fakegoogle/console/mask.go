package console

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gcptoken/gcptoken/internal/jwtinfo"
)

// The console never keeps or shows a secret whole: every exchange is
// masked as it is recorded, and the raw exchange is dropped. A secret is
// shown as a fingerprint (the start of its SHA-256), with its length and,
// for Google's token formats, the public prefix that says what it is
// ("ya29.", "1//"). JWTs are masked the same way and decoded beside the
// exchange, their signature reduced to a fingerprint.

// fingerprint identifies a secret without revealing it: 8 hex digits of
// its SHA-256, enough to tell a handful of tokens apart on one page.
func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:4])
}

// tokenID is a longer fingerprint that names an issued token in forms
// (revoke), so that no form ever carries the token itself.
func tokenID(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:12])
}

// publicPrefixes are the starts of Google's (and the fake's) token
// formats: they tell what a token is and nothing of its secret part.
var publicPrefixes = []string{"ya29.c.", "ya29.a0", "ya29.d.", "ya29.", "1//fake-wf-", "1//fake-", "1//", "4/"}

// maskSecret shows secret as its public prefix, length and fingerprint.
func maskSecret(secret string) string {
	if secret == "" {
		return ""
	}
	return fmt.Sprintf("%s[secret: %d characters, fingerprint %s]", publicPrefix(secret), len(secret), fingerprint(secret))
}

// shortSecret is maskSecret for a table cell: prefix and fingerprint.
func shortSecret(secret string) string {
	return publicPrefix(secret) + fingerprint(secret)
}

// publicPrefix is the known format prefix of secret and an ellipsis, or
// "".
func publicPrefix(secret string) string {
	for _, p := range publicPrefixes {
		if strings.HasPrefix(secret, p) && len(secret) > 2*len(p) {
			return p + "…"
		}
	}
	return ""
}

// secretNames are the fields, parameters and headers whose values are
// secrets, normalized by normalizeName. "token" covers tokeninfo's and
// revoke's parameter, generateIdToken's answer and AWS's session token.
var secretNames = sync.OnceValue(func() map[string]bool {
	return map[string]bool{
		"accesstoken": true, "refreshtoken": true, "idtoken": true, "token": true, "assertion": true,
		"subjecttoken": true, "actortoken": true, "clientsecret": true, "code": true, "codeverifier": true,
		"devicecode": true, "privatekey": true, "secretaccesskey": true, "sessiontoken": true, "signedjwt": true,
		"signedblob": true, "password": true, "secret": true, "consent": true, "authorization": true,
		"proxyauthorization": true, "cookie": true, "setcookie": true, "xgoogiapjwtassertion": true,
		"xamzsecuritytoken": true, "xawsec2metadatatoken": true, "xgoogapikey": true, "key": true,
	}
})

// normalizeName folds "access_token", "accessToken" and "Access-Token"
// together.
func normalizeName(name string) string {
	return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(name))
}

// isSecretName reports whether a field of that name holds a secret: one
// of secretNames, or any name with "secret", "password", "apikey" or
// "privatekey" in it (aws_secret_access_key, x-api-key).
func isSecretName(name string) bool {
	n := normalizeName(name)
	if secretNames()[n] {
		return true
	}
	for _, part := range []string{"secret", "password", "apikey", "privatekey"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// secretPatterns find Google's tokens and keys in text that is not a
// named field: log-like bodies, error texts, unknown parameters.
var secretPatterns = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`ya29\.[A-Za-z0-9._\-]+|1//[A-Za-z0-9._\-]+|-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*-----END [A-Z ]*PRIVATE KEY-----|[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}`)
})

// masker masks one exchange and collects the JWTs it finds, decoded.
type masker struct {
	decode func(where, token string) *jwtView // decodes a JWT found at where
	jwts   map[string]*jwtView                // by token, so a JWT seen twice is decoded once
	order  []*jwtView
}

// jwt masks a JWT and decodes it once.
func (m *masker) jwt(where, token string) string {
	v, ok := m.jwts[token]
	if !ok {
		v = m.decode(where, token)
		v.N = len(m.order) + 1
		m.jwts[token] = v
		m.order = append(m.order, v)
	}
	return fmt.Sprintf("JWT #%d [%d characters, fingerprint %s; decoded below]", v.N, len(token), fingerprint(token))
}

// secret masks a value known to be secret, decoding it if it is a JWT.
func (m *masker) secret(where, v string) string {
	if jwtinfo.LooksLikeJWT(v) {
		return m.jwt(where, v)
	}
	return maskSecret(v)
}

// text masks the tokens and keys found in free text.
func (m *masker) text(where, s string) string {
	return secretPatterns().ReplaceAllStringFunc(s, func(found string) string {
		if strings.Count(found, ".") == 2 && !strings.HasPrefix(found, "ya29.") && !strings.HasPrefix(found, "1//") {
			if !jwtinfo.LooksLikeJWT(found) {
				return found // dotted names, not a token
			}
		}
		return m.secret(where, found)
	})
}

// field masks the value of a named form field, query parameter or JSON
// member.
func (m *masker) field(where, name, v string) string {
	if !isSecretName(name) {
		return m.text(where, v)
	}
	if normalizeName(name) == "subjecttoken" && !jwtinfo.LooksLikeJWT(v) {
		if shown, ok := m.awsSubjectToken(where, v); ok {
			return shown
		}
	}
	return m.secret(where, v)
}

// awsSubjectToken shows an AWS subject token, a URL-encoded JSON object
// describing a signed GetCallerIdentity request, with its signature and
// session token masked.
func (m *masker) awsSubjectToken(where, v string) (string, bool) {
	raw, err := url.QueryUnescape(v)
	if err != nil {
		return "", false
	}
	var obj map[string]any
	if json.Unmarshal([]byte(raw), &obj) != nil {
		return "", false
	}
	out, err := json.MarshalIndent(m.json(where, obj), "", "  ")
	if err != nil {
		return "", false
	}
	return "AWS signed request (URL-encoded JSON), decoded:\n" + string(out), true
}

// json masks a decoded JSON value. An object with "key" and "value"
// members is a header pair (AWS subject tokens list headers so).
func (m *masker) json(where string, v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		name, isPair := v["key"].(string)
		for k, val := range v {
			s, isString := val.(string)
			switch {
			case isPair && k == "value" && isString:
				out[k] = m.header(where, name, s)
			case isString && k != "key":
				out[k] = m.field(where+"."+k, k, s)
			default:
				out[k] = m.json(where+"."+k, val)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = m.json(where, e)
		}
		return out
	case string:
		return m.text(where, v)
	}
	return v
}

// header masks a header value: credentials by scheme, URLs by parameter.
func (m *masker) header(where, name, v string) string {
	switch normalizeName(name) {
	case "authorization", "proxyauthorization":
		return m.authorization(where, v)
	case "location", "referer":
		return m.url(where, v)
	}
	if isSecretName(name) {
		return m.secret(where, v)
	}
	return m.text(where, v)
}

// authorization masks an Authorization header: the bearer token, the
// Basic secret (the client id stays), the SigV4 signature.
func (m *masker) authorization(where, v string) string {
	scheme, rest, _ := strings.Cut(v, " ")
	switch strings.ToLower(scheme) {
	case "bearer":
		return scheme + " " + m.secret(where, strings.TrimSpace(rest))
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		id, secret, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok {
			return scheme + " " + maskSecret(rest)
		}
		if u, err := url.QueryUnescape(id); err == nil {
			id = u
		}
		return fmt.Sprintf("%s (client id %s, client secret %s)", scheme, m.text(where, id), maskSecret(secret))
	case "aws4-hmac-sha256":
		return awsSignature().ReplaceAllStringFunc(v, func(sig string) string {
			return "Signature=" + maskSecret(strings.TrimPrefix(sig, "Signature="))
		})
	}
	return maskSecret(v)
}

var awsSignature = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`Signature=[0-9a-fA-F]+`) })

// url masks a URL's secret query and fragment parameters (an
// authorization code or implicit-flow token in a redirect).
func (m *masker) url(where, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return m.text(where, raw)
	}
	shown := *u
	shown.RawQuery, shown.Fragment, shown.RawFragment = "", "", ""
	out := shown.String()
	if u.RawQuery != "" {
		out += "?" + m.params(where, u.RawQuery)
	}
	if u.Fragment != "" {
		out += "#" + m.params(where, u.Fragment)
	}
	return out
}

// params masks a query string, shown unescaped for reading.
func (m *masker) params(where, raw string) string {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return m.text(where, raw)
	}
	var parts []string
	for _, f := range m.values(where, q) {
		parts = append(parts, f.Name+"="+f.Value)
	}
	return strings.Join(parts, "&")
}

// field is one masked name and value for display.
type field struct{ Name, Value string }

// values masks a form or query, sorted by name.
func (m *masker) values(where string, q url.Values) []field {
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []field
	for _, k := range names {
		for _, v := range q[k] {
			out = append(out, field{k, m.field(where+" "+k, k, v)})
		}
	}
	return out
}

// headers masks a header map, sorted by name.
func (m *masker) headers(where string, h map[string][]string) []field {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	var out []field
	for _, k := range names {
		for _, v := range h[k] {
			out = append(out, field{k, m.header(where+" header "+k, k, v)})
		}
	}
	return out
}
