package fakegoogle

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// OIDC providers that trust an issuer other than the fake's own identity
// provider: a Kubernetes cluster's service-account issuer, say. Google's
// provider resource has the same three parts (oidc.issuerUri,
// oidc.jwksJson, attributeMapping); the fake takes the keys as uploaded
// JSON only and never fetches them, as Google does for issuers whose
// discovery document is not public (a cluster behind a firewall).

// maxMappedSubject is Google's limit on google.subject: 127 bytes.
const maxMappedSubject = 127

// defaultSubjectMapping is what an OIDC provider maps without an
// attributeMapping.
const defaultSubjectMapping = "assertion.sub"

// validateIssuer checks Issuer, JWKS and AttributeMapping.
func (p *IdentityProvider) validateIssuer() error {
	if p.Issuer == "" && len(p.JWKS) == 0 && len(p.AttributeMapping) == 0 {
		return nil
	}
	if p.Type != ProviderOIDC {
		return fmt.Errorf("issuer, JWKS and attribute mapping are for %q providers, not %q", ProviderOIDC, p.Type)
	}
	switch u, err := url.Parse(p.Issuer); {
	case p.Issuer == "" && len(p.JWKS) > 0:
		return errors.New("JWKS without an issuer: set Issuer to the iss its tokens carry")
	case p.Issuer != "" && (err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != ""):
		return fmt.Errorf("issuer %q must be an https URL without query or fragment", p.Issuer)
	case p.Issuer != "" && len(p.JWKS) == 0:
		return fmt.Errorf("issuer %q needs JWKS: the fake fetches no keys; upload the issuer's JSON Web Key Set (for Kubernetes, its /openid/v1/jwks)", p.Issuer)
	}
	if len(p.JWKS) > 0 {
		if _, err := parseRSAJWKS(p.JWKS); err != nil {
			return fmt.Errorf("JWKS: %w", err)
		}
	}
	for k, expr := range p.AttributeMapping {
		if k != "google.subject" && !strings.HasPrefix(k, "attribute.") {
			return fmt.Errorf("attribute mapping key %q: want google.subject or attribute.NAME", k)
		}
		if _, err := parseAssertionPath(expr); err != nil {
			return fmt.Errorf("attribute mapping %s: %w", k, err)
		}
	}
	if len(p.AttributeMapping) > 0 && p.AttributeMapping["google.subject"] == "" {
		return errors.New("attribute mapping must map google.subject")
	}
	return nil
}

// providerIssuer is the iss that p's subject tokens must carry.
func (s *Server) providerIssuer(r *http.Request, p *IdentityProvider) string {
	if p.Issuer != "" {
		return p.Issuer
	}
	return s.baseFor(r) + idpPath
}

// verifyProviderSignature checks jwt's RS256 signature against p's keys:
// its uploaded JWKS, or the fake identity provider's.
func (s *Server) verifyProviderSignature(jwt *parsedJWT, p *IdentityProvider) bool {
	if len(p.JWKS) == 0 {
		s.mu.Lock()
		keys := append([]*rsaKey(nil), s.fed.idpKeys...)
		s.mu.Unlock()
		return jwt.verifyWith(keys)
	}
	keys, err := parseRSAJWKS(p.JWKS) // validated when the provider was added
	if err != nil || jwt.header(jwt.alg) != "RS256" {
		return false
	}
	kid := jwt.header(jwt.kid)
	sum := sha256.Sum256([]byte(jwt.signingInput))
	for _, k := range keys {
		if k.kid == kid && rsa.VerifyPKCS1v15(k.key, crypto.SHA256, sum[:], jwt.signature) == nil {
			return true
		}
	}
	return false
}

// mappedSubject applies p's google.subject mapping to a verified token's
// claims.
func (p *IdentityProvider) mappedSubject(payload []byte) (string, error) {
	expr := p.AttributeMapping["google.subject"]
	if expr == "" {
		expr = defaultSubjectMapping
	}
	path, err := parseAssertionPath(expr)
	if err != nil { // validated when the provider was added
		return "", err
	}
	var claims any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", fmt.Errorf("The subject token's claims are malformed: %v.", err)
	}
	for _, name := range path {
		obj, _ := claims.(map[string]any)
		claims = obj[name]
	}
	sub, ok := claims.(string)
	switch {
	case !ok || sub == "":
		return "", fmt.Errorf("The attribute mapping google.subject=%s gives no string for this token.", expr)
	case len(sub) > maxMappedSubject || !utf8.ValidString(sub):
		// [?] Google's text; the limit is documented.
		return "", fmt.Errorf("The mapped google.subject is %d bytes long: at most %d are allowed.", len(sub), maxMappedSubject)
	}
	return sub, nil
}

// parseAssertionPath parses the subset of Common Expression Language that
// picks one claim: assertion.NAME, assertion['NAME'] and chains of them
// (assertion['kubernetes.io']['namespace']). Anything else fails loudly:
// the fake does not evaluate CEL.
func parseAssertionPath(expr string) ([]string, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(expr), "assertion")
	if !ok {
		return nil, fmt.Errorf("%q: the fake evaluates only assertion.CLAIM and assertion['CLAIM'] paths", expr)
	}
	var path []string
	for rest != "" {
		var name string
		switch {
		case strings.HasPrefix(rest, "."):
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			name, rest = rest[1:1+end], rest[1+end:]
			if !isCELIdent(name) {
				return nil, fmt.Errorf("%q: the fake evaluates only assertion.CLAIM and assertion['CLAIM'] paths", expr)
			}
		case strings.HasPrefix(rest, "['") || strings.HasPrefix(rest, `["`):
			quote := rest[1:2]
			end := strings.Index(rest[2:], quote+"]")
			if end < 0 {
				return nil, fmt.Errorf("%q: unterminated [%s…%s]", expr, quote, quote)
			}
			name, rest = rest[2:2+end], rest[2+end+2:]
		default:
			return nil, fmt.Errorf("%q: the fake evaluates only assertion.CLAIM and assertion['CLAIM'] paths", expr)
		}
		if name == "" {
			return nil, fmt.Errorf("%q: empty claim name", expr)
		}
		path = append(path, name)
	}
	if len(path) == 0 {
		return nil, fmt.Errorf("%q names no claim", expr)
	}
	return path, nil
}

// rsaPublicKey is one key of an uploaded JWKS.
type rsaPublicKey struct {
	kid string
	key *rsa.PublicKey
}

// parseRSAJWKS decodes a JSON Web Key Set of RSA signing keys, each with a
// kid (Kubernetes publishes RS256 keys with one).
func parseRSAJWKS(raw []byte) ([]rsaPublicKey, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %v", err)
	}
	var out []rsaPublicKey
	for i, k := range set.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") {
			continue // not a key STS could check an RS256 signature with
		}
		n, errN := b64.DecodeString(k.N)
		e, errE := b64.DecodeString(k.E)
		if errN != nil || errE != nil || len(n) < 256 || len(e) == 0 || len(e) > 4 || k.Kid == "" {
			return nil, fmt.Errorf("key %d: want kid and an RSA modulus of at least 2048 bits with its exponent, base64url", i)
		}
		out = append(out, rsaPublicKey{k.Kid, &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}})
	}
	if len(out) == 0 {
		return nil, errors.New("no RSA signing key")
	}
	return out, nil
}

// isCELIdent reports whether s is a CEL identifier, [A-Za-z_][A-Za-z0-9_]*.
func isCELIdent(s string) bool {
	for i, r := range s {
		if r != '_' && !('a' <= r && r <= 'z') && !('A' <= r && r <= 'Z') && (i == 0 || !('0' <= r && r <= '9')) {
			return false
		}
	}
	return s != ""
}
