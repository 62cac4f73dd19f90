package fakegoogle

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Accessors of the fake's registry, tokens and keys, for tools that show
// the fake's state (the emulator's console). They return copies; change
// the state through the Server's other methods.

// ServiceAccounts returns every registered service account, sorted by
// email.
func (s *Server) ServiceAccounts() []ServiceAccount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ServiceAccount, 0, len(s.sas))
	for _, sa := range s.sas {
		out = append(out, sa.info)
	}
	slices.SortFunc(out, func(a, b ServiceAccount) int { return strings.Compare(a.Email, b.Email) })
	return out
}

// IAMPolicy is what the fake's IAM model holds for one service account.
type IAMPolicy struct {
	// TokenCreators are the members holding
	// roles/iam.serviceAccountTokenCreator on it (GrantTokenCreator,
	// GrantFederatedTokenCreator), sorted.
	TokenCreators []string
	// LifetimeExtension is set when its impersonated access tokens may
	// live up to 12 hours (AllowLifetimeExtension).
	LifetimeExtension bool
	// DomainWideDelegation are the scopes it may request for other users
	// (AllowDomainWideDelegation); nil when it may not.
	DomainWideDelegation []string
}

// IAMPolicy returns the IAM model's entry for serviceAccount (an email or
// unique id).
func (s *Server) IAMPolicy(serviceAccount string) (IAMPolicy, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa := s.findSALocked(serviceAccount)
	if sa == nil {
		return IAMPolicy{}, false
	}
	return IAMPolicy{
		TokenCreators: tokenCreatorsOf(sa), LifetimeExtension: sa.lifetimeExtension,
		DomainWideDelegation: slices.Clone(sa.dwdScopes),
	}, true
}

// SetServiceAccountDisabled disables an account, as DisableServiceAccount
// does, or enables it again.
func (s *Server) SetServiceAccountDisabled(email string, disabled bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa, ok := s.sas[email]
	if !ok {
		return fmt.Errorf("fakegoogle: service account %q: no such account", email)
	}
	sa.info.Disabled = disabled
	return nil
}

// Users returns the registered users, sorted by email.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.Email, b.Email) })
	return out
}

// OAuthClients returns the ids of the registered OAuth clients, sorted.
func (s *Server) OAuthClients() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.clients))
	for id := range s.clients {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// Kinds of IssuedToken.
const (
	KindAccessToken           = "access token"
	KindRefreshToken          = "refresh token"
	KindWorkforceRefreshToken = "workforce refresh token"
)

// IssuedToken is a token the fake issued and still honours.
type IssuedToken struct {
	// Value is the token itself: a secret.
	Value string
	// Kind is KindAccessToken, KindRefreshToken or
	// KindWorkforceRefreshToken.
	Kind string
	// Principal is whom it stands for: an email, or a federated
	// principal://… for tokens from STS.
	Principal string
	// ClientID is the OAuth client it was issued to (a service account's
	// unique id for its own tokens; "" for some federated ones).
	ClientID string
	// Scopes are its scopes.
	Scopes []string
	// Expiry is when an access token expires; zero for refresh tokens.
	Expiry time.Time
	// RefreshToken is the refresh token an access token was minted from,
	// "" for none: revoking either revokes both.
	RefreshToken string
	// AccessBoundary is the Credential Access Boundary of a downscoped
	// access token (JSON), "" for none.
	AccessBoundary string
}

// IssuedTokens returns the tokens the fake honours: access tokens that
// have not expired, soonest expiry last, then refresh tokens by principal.
func (s *Server) IssuedTokens() []IssuedToken {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var access, refresh []IssuedToken
	for tok, a := range s.access {
		if now.Before(a.expiry) {
			access = append(access, accessIssued(tok, a))
		}
	}
	for tok, g := range s.refresh {
		refresh = append(refresh, refreshIssued(tok, g))
	}
	for tok, g := range s.fed.wfRefresh {
		refresh = append(refresh, IssuedToken{Value: tok, Kind: KindWorkforceRefreshToken, ClientID: g.ClientID,
			Principal: IdentityProvider{Workforce: true, Pool: poolOf(g.Provider)}.Principal(g.Subject), Scopes: slices.Clone(g.Scopes)})
	}
	slices.SortFunc(access, func(a, b IssuedToken) int { return b.Expiry.Compare(a.Expiry) })
	slices.SortFunc(refresh, func(a, b IssuedToken) int {
		return strings.Compare(a.Principal+a.ClientID+a.Value, b.Principal+b.ClientID+b.Value)
	})
	return append(access, refresh...)
}

// LookupToken returns what the fake knows of an access or refresh token
// it issued: also an access token that has expired, if the fake still
// keeps it (see Expiry).
func (s *Server) LookupToken(token string) (IssuedToken, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.access[token]; ok {
		return accessIssued(token, a), true
	}
	if g, ok := s.refresh[token]; ok {
		return refreshIssued(token, g), true
	}
	if g, ok := s.fed.wfRefresh[token]; ok {
		return IssuedToken{Value: token, Kind: KindWorkforceRefreshToken, ClientID: g.ClientID,
			Principal: IdentityProvider{Workforce: true, Pool: poolOf(g.Provider)}.Principal(g.Subject), Scopes: slices.Clone(g.Scopes)}, true
	}
	return IssuedToken{}, false
}

func accessIssued(tok string, a *accessGrant) IssuedToken {
	return IssuedToken{Value: tok, Kind: KindAccessToken, Principal: a.email, ClientID: a.clientID,
		Scopes: slices.Clone(a.scopes), Expiry: a.expiry, RefreshToken: a.refresh, AccessBoundary: a.boundary}
}

func refreshIssued(tok string, g *refreshGrant) IssuedToken {
	return IssuedToken{Value: tok, Kind: KindRefreshToken, Principal: g.userEmail, ClientID: g.clientID, Scopes: slices.Clone(g.scopes)}
}

// poolOf is the pool id in a workforce provider's name,
// "locations/global/workforcePools/POOL/providers/P".
func poolOf(providerName string) string {
	rest := strings.TrimPrefix(providerName, "locations/global/workforcePools/")
	pool, _, _ := strings.Cut(rest, "/")
	return pool
}

// JWTSigner says which of the fake's keys signed token, a compact JWT:
// Google's ID-token keys, a service account's key (assertions, self-signed
// JWTs, signJwt), the fake OIDC identity provider's, a Google-owned
// account's (Firebase) or IAP's. ok is false, with the reason, when none
// of them verifies the signature. Only the signature is checked.
func (s *Server) JWTSigner(token string) (signer string, ok bool) {
	jwt, err := parseJWT(token)
	if err != nil {
		return "not a JWT: " + err.Error(), false
	}
	alg, kid := jwt.header(jwt.alg), jwt.header(jwt.kid)
	if alg == "ES256" {
		return s.iapSigner(jwt, kid)
	}
	if alg != "RS256" {
		return fmt.Sprintf("alg %q: the fake signs with RS256 (ES256 for IAP) only", alg), false
	}
	for _, g := range s.keyGroups() {
		for _, k := range g.keys {
			if jwt.verifyWith([]*rsaKey{k}) {
				return fmt.Sprintf("%s (key %s)", g.owner, k.kid), true
			}
		}
	}
	if kid != "" {
		return fmt.Sprintf("no key of the fake with kid %q verifies it", kid), false
	}
	return "no key of the fake verifies it", false
}

// keyGroup is the RSA keys of one signer.
type keyGroup struct {
	owner string
	keys  []*rsaKey
}

// keyGroups lists every RSA signer of the fake, Google's own keys first.
func (s *Server) keyGroups() []keyGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	groups := []keyGroup{{"Google's ID-token signing keys", slices.Clone(s.signing)}}
	for _, email := range slices.Sorted(maps.Keys(s.sas)) {
		groups = append(groups, keyGroup{"service account " + email, slices.Clone(s.sas[email].keys)})
	}
	groups = append(groups, keyGroup{"the fake OIDC identity provider", slices.Clone(s.fed.idpKeys)})
	for _, email := range slices.Sorted(maps.Keys(s.system)) {
		groups = append(groups, keyGroup{email, slices.Clone(s.system[email])})
	}
	return groups
}

// iapSigner checks an ES256 signature against IAP's keys.
func (s *Server) iapSigner(jwt *parsedJWT, kid string) (string, bool) {
	if len(jwt.signature) != 64 {
		return "ES256 signature of the wrong length", false
	}
	var key *ecdsa.PublicKey
	s.mu.Lock()
	for _, k := range s.iapKeys {
		if k.kid == kid {
			key = &k.priv.PublicKey
		}
	}
	s.mu.Unlock()
	sum := sha256.Sum256([]byte(jwt.signingInput))
	r, sig := new(big.Int).SetBytes(jwt.signature[:32]), new(big.Int).SetBytes(jwt.signature[32:])
	if key == nil || !ecdsa.Verify(key, sum[:], r, sig) {
		return fmt.Sprintf("no IAP key with kid %q verifies it", kid), false
	}
	return fmt.Sprintf("Identity-Aware Proxy (key %s)", kid), true
}

// Models reports whether the fake answers path with one of its endpoints
// rather than Google's 404 for what it does not model: a handler mounted
// beside the fake (the emulator's console) checks that it shadows none.
func (s *Server) Models(path string) bool {
	_, pattern := s.mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}})
	return pattern != "" && pattern != "/"
}
