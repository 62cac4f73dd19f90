package fakegoogle

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The fake's own OpenID Connect identity provider: the issuer whose tokens
// OIDC workload (and workforce) providers accept, standing in for GitHub
// Actions, Kubernetes, Azure AD and the like. It lives under its own path
// prefix with its own keys, so that its tokens can never pass for Google's.

// idpPath prefixes the identity provider's issuer URL and endpoints.
const idpPath = "/fakeidp"

const (
	// maxSubjectTokenLifetime is STS's limit on exp-iat of OIDC tokens.
	maxSubjectTokenLifetime = 48 * time.Hour
	// oidcSkew is the clock skew allowed on iat. [?] Google's value.
	oidcSkew = time.Minute
)

// OIDCIssuer returns the fake identity provider's issuer URL,
// BaseURL()+"/fakeidp", or "" until SetBaseURL. Its discovery document is
// at OIDCIssuer()+"/.well-known/openid-configuration".
func (s *Server) OIDCIssuer() string {
	base := s.BaseURL()
	if base == "" {
		return ""
	}
	return base + idpPath
}

// oidcSubjectClaims are the claims of the identity provider's tokens.
type oidcSubjectClaims struct {
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Iat int64  `json:"iat"`
	Iss string `json:"iss"`
	Sub string `json:"sub"`
}

// MintOIDCSubjectToken returns a token of the fake identity provider for
// subject, with aud audience, valid from now for lifetime: what a workload
// would find in its OIDC token file. An empty audience means the default
// allowed audience of DefaultOIDCProvider ("https:" + DefaultOIDCAudience).
// STS accepts lifetimes up to 48 hours; longer ones are minted anyway, so
// that tests can see STS refuse them.
func (s *Server) MintOIDCSubjectToken(subject, audience string, lifetime time.Duration) (string, error) {
	iss := s.OIDCIssuer()
	if iss == "" {
		return "", errors.New("fakegoogle: mint OIDC token: base URL not set; call SetBaseURL or use Start")
	}
	if subject == "" || lifetime <= 0 {
		return "", errors.New("fakegoogle: mint OIDC token: need a subject and a positive lifetime")
	}
	if audience == "" {
		audience = "https:" + DefaultOIDCAudience
	}
	now := s.now()
	return s.signIDPToken(oidcSubjectClaims{
		Aud: audience, Exp: now.Add(lifetime).Unix(), Iat: now.Unix(), Iss: iss, Sub: subject,
	})
}

func (s *Server) signIDPToken(claims any) (string, error) {
	s.mu.Lock()
	key := s.fed.idpKeys[0]
	s.mu.Unlock()
	return signJWT(key, claims)
}

// handleIDP serves the identity provider's discovery document and JWKS.
func (s *Server) handleIDP(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	iss := s.baseFor(r) + idpPath
	switch r.URL.Path {
	case idpPath + "/.well-known/openid-configuration":
		writeJSON(w, http.StatusOK, "application/json", struct {
			Issuer                           string   `json:"issuer"`
			JWKSURI                          string   `json:"jwks_uri"`
			ResponseTypesSupported           []string `json:"response_types_supported"`
			SubjectTypesSupported            []string `json:"subject_types_supported"`
			IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
			ClaimsSupported                  []string `json:"claims_supported"`
		}{iss, iss + "/jwks", []string{"id_token"}, []string{"public"}, []string{"RS256"},
			[]string{"aud", "exp", "iat", "iss", "sub"}})
	case idpPath + "/jwks":
		s.mu.Lock()
		keys := slices.Clone(s.fed.idpKeys)
		s.mu.Unlock()
		set, err := toJWKS(keys)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		s.writeCerts(w, set)
	default:
		s.handleUnmodelled(w, r)
	}
}

// verifyOIDCSubjectToken checks an OIDC subject token for provider p as STS
// does (protocol.md §7.1) and returns its mapped subject. The issuer is the
// fake identity provider, or the provider's Issuer with its uploaded JWKS
// (federation_issuer.go): the fake fetches no keys.
// Errors are invalid_grant descriptions; [?] Google's texts were not
// observed.
func (s *Server) verifyOIDCSubjectToken(r *http.Request, tok string, p *IdentityProvider) (string, error) {
	jwt, err := parseJWT(tok)
	if err != nil {
		return "", fmt.Errorf("The subject token is not a JWT: %v.", err)
	}
	if alg := jwt.header(jwt.alg); alg != "RS256" {
		return "", fmt.Errorf("The subject token's alg %q is not supported: the fake identity provider signs with RS256.", alg)
	}
	if jwt.header(jwt.kid) == "" {
		return "", errors.New("The subject token's header has no kid.")
	}
	if !s.verifyProviderSignature(jwt, p) {
		return "", errors.New("The subject token's signature is invalid: it was not signed by a key of the issuer's JWKS.")
	}
	var c struct {
		Aud json.RawMessage `json:"aud"`
		Exp *float64        `json:"exp"`
		Iat *float64        `json:"iat"`
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
	}
	if err := json.Unmarshal(jwt.payload, &c); err != nil {
		return "", fmt.Errorf("The subject token's claims are malformed: %v.", err)
	}
	if want := s.providerIssuer(r, p); c.Iss != want {
		return "", fmt.Errorf("The subject token's issuer %q is not the issuer %q that provider %s trusts.", c.Iss, want, p.Audience())
	}
	if c.Sub == "" {
		return "", errors.New("The subject token has no sub claim.")
	}
	if c.Iat == nil || c.Exp == nil {
		return "", errors.New("The subject token must carry iat and exp.")
	}
	now := s.now()
	iat, exp := time.Unix(int64(*c.Iat), 0), time.Unix(int64(*c.Exp), 0)
	switch {
	case iat.After(now.Add(oidcSkew)):
		return "", fmt.Errorf("The subject token was issued in the future (iat %d).", int64(*c.Iat))
	case !now.Before(exp):
		return "", fmt.Errorf("The subject token has expired (exp %d, now %d).", int64(*c.Exp), now.Unix())
	case exp.Sub(iat) > maxSubjectTokenLifetime:
		return "", fmt.Errorf("The subject token lives %v, longer than the 48h STS accepts (exp - iat).", exp.Sub(iat))
	}
	var auds []string
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		auds = []string{one}
	} else if json.Unmarshal(c.Aud, &auds) != nil {
		return "", errors.New("The subject token's aud is neither a string nor a list of strings.")
	}
	allowed := p.AllowedAudiences
	if len(allowed) == 0 {
		allowed = []string{"https:" + p.Audience(), p.Audience()}
	}
	for _, a := range auds {
		if slices.Contains(allowed, a) {
			return p.mappedSubject(jwt.payload)
		}
	}
	return "", fmt.Errorf("The audience in the subject token %q does not match the expected audience %s.",
		strings.Join(auds, ","), strings.Join(allowed, " or "))
}
