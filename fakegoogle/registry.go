package fakegoogle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ServiceAccount describes a registered service account. The values are a
// snapshot; change the account through Server methods.
type ServiceAccount struct {
	// Email is the account's address, e.g. "sa@project.iam.gserviceaccount.com".
	Email string
	// UniqueID is the 21-digit numeric id; it is the sub of its tokens and
	// the client_id of its key file.
	UniqueID string
	// ProjectID is taken from the email's domain, or DefaultProjectID.
	ProjectID string
	// KeyID is the private_key_id of its key (40 hex characters).
	KeyID string
	// Disabled accounts are refused tokens ("Robot is disabled.").
	Disabled bool
}

type serviceAccount struct {
	info ServiceAccount
	keys []*rsaKey // keys[0] is the one in ServiceAccountKeyJSON

	// The IAM model (iam.go); LoadState replaces it with the accounts.
	tokenCreators     map[string]bool // members holding roles/iam.serviceAccountTokenCreator on it
	lifetimeExtension bool            // listed in constraints/iam.allowServiceAccountCredentialLifetimeExtension
	dwdScopes         []string        // domain-wide delegation allow-list; nil: no DWD

	// workloadIdentityUsers are federated members holding
	// roles/iam.workloadIdentityUser on it (workloadidentityuser.go).
	workloadIdentityUsers map[string]bool
}

// User is a registered end user, for refresh tokens.
type User struct {
	Email string
	// Subject is the user's 21-digit id, the sub of their ID tokens.
	Subject string
}

// refreshGrant is what a refresh token stands for.
type refreshGrant struct {
	clientID  string
	userEmail string
	scopes    []string // expanded, in grant order
}

// accessGrant is what an access token stands for; tokeninfo reports it.
type accessGrant struct {
	clientID string // azp/aud: the OAuth client, or the SA's unique id
	subject  string
	email    string
	scopes   []string
	expiry   time.Time
	offline  bool   // from a refresh token: access_type "offline"
	refresh  string // the refresh token it came from, if any
	// boundary is the Credential Access Boundary of a downscoped token
	// (STS, sts.go): the accessBoundary object as compact JSON; "" for an
	// unrestricted token.
	boundary string
}

// AddServiceAccount registers a service account with a new RSA key. The key
// is generated in the background; ServiceAccountKeyJSON and token requests
// wait for it.
func (s *Server) AddServiceAccount(email string) (*ServiceAccount, error) {
	if !strings.Contains(email, "@") {
		return nil, fmt.Errorf("fakegoogle: add service account %q: not an email address", email)
	}
	sa := &serviceAccount{
		info: ServiceAccount{Email: email, UniqueID: newNumericID(), ProjectID: projectOf(email)},
		keys: []*rsaKey{generateKey(s.bits)},
	}
	sa.info.KeyID = sa.keys[0].kid
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sas[email]; ok {
		return nil, fmt.Errorf("fakegoogle: add service account %q: already exists", email)
	}
	s.sas[email] = sa
	info := sa.info
	return &info, nil
}

// projectOf extracts the project id from NAME@PROJECT.iam.gserviceaccount.com.
func projectOf(email string) string {
	_, domain, _ := strings.Cut(email, "@")
	if p, ok := strings.CutSuffix(domain, ".iam.gserviceaccount.com"); ok && p != "" {
		return p
	}
	return DefaultProjectID
}

// ServiceAccount returns a snapshot of a registered service account.
func (s *Server) ServiceAccount(email string) (*ServiceAccount, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa, ok := s.sas[email]
	if !ok {
		return nil, false
	}
	info := sa.info
	return &info, true
}

// DisableServiceAccount makes the token endpoint refuse the account's
// assertions, as Google does for a disabled account.
func (s *Server) DisableServiceAccount(email string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa, ok := s.sas[email]
	if !ok {
		return fmt.Errorf("fakegoogle: disable service account %q: no such account", email)
	}
	sa.info.Disabled = true
	return nil
}

// serviceAccountKeyFile has the fields of a real key file, in its order.
type serviceAccountKeyFile struct {
	Type                    string `json:"type"`
	ProjectID               string `json:"project_id"`
	PrivateKeyID            string `json:"private_key_id"`
	PrivateKey              string `json:"private_key"`
	ClientEmail             string `json:"client_email"`
	ClientID                string `json:"client_id"`
	AuthURI                 string `json:"auth_uri"`
	TokenURI                string `json:"token_uri"`
	AuthProviderX509CertURL string `json:"auth_provider_x509_cert_url"`
	ClientX509CertURL       string `json:"client_x509_cert_url"`
	UniverseDomain          string `json:"universe_domain"`
}

// ServiceAccountKeyJSON returns a "service_account" key file for email whose
// URLs (token_uri and the cert URLs) point at the fake. It fails if the base
// URL is unset, because a key file without a fake token_uri would send
// clients to the real Google.
func (s *Server) ServiceAccountKeyJSON(email string) ([]byte, error) {
	base := s.BaseURL()
	if base == "" {
		return nil, fmt.Errorf("fakegoogle: key file for %q: base URL not set; call SetBaseURL or use Start", email)
	}
	s.mu.Lock()
	sa, ok := s.sas[email]
	var info ServiceAccount
	var key *rsaKey
	if ok {
		info, key = sa.info, sa.keys[0]
	}
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("fakegoogle: key file for %q: no such service account", email)
	}
	pemKey, err := key.privatePEM()
	if err != nil {
		return nil, fmt.Errorf("fakegoogle: key file for %q: %w", email, err)
	}
	return marshalFile(serviceAccountKeyFile{
		Type:                    "service_account",
		ProjectID:               info.ProjectID,
		PrivateKeyID:            key.kid,
		PrivateKey:              pemKey,
		ClientEmail:             info.Email,
		ClientID:                info.UniqueID,
		AuthURI:                 base + "/o/oauth2/auth",
		TokenURI:                base + "/token",
		AuthProviderX509CertURL: base + "/oauth2/v1/certs",
		ClientX509CertURL:       base + "/robot/v1/metadata/x509/" + url.QueryEscape(info.Email),
		UniverseDomain:          s.universe,
	})
}

// marshalFile encodes a credential file the way Google's tools write them:
// two-space indent, trailing newline, no HTML escaping.
func marshalFile(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("fakegoogle: encode credential file: %w", err)
	}
	return buf.Bytes(), nil
}

// AddOAuthClient registers an OAuth client, or changes its secret.
func (s *Server) AddOAuthClient(clientID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[clientID] = secret
}

// AddUser registers a user with a new subject id and returns it. If the
// user exists, the existing record is returned.
func (s *Server) AddUser(email string) *User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[email]; ok {
		c := *u
		return &c
	}
	u := &User{Email: email, Subject: newNumericID()}
	s.users[email] = u
	c := *u
	return &c
}

// IssueRefreshToken mints a refresh token ("1//fake-…") for userEmail and
// the OAuth client, as if the user had consented to scopes. Scopes may use
// the aliases "email" and "profile". As at Google, refreshing returns an
// id_token only if "openid" is granted, and that ID token (like tokeninfo)
// carries the email only if the userinfo.email scope is granted.
func (s *Server) IssueRefreshToken(clientID, userEmail string, scopes []string) (string, error) {
	expanded := expandScopes(strings.Join(scopes, " "))
	if len(expanded) == 0 {
		return "", fmt.Errorf("fakegoogle: issue refresh token for %q: no scopes", userEmail)
	}
	if bad := s.unknownScopes(strings.Join(scopes, " ")); len(bad) > 0 {
		return "", fmt.Errorf("fakegoogle: issue refresh token for %q: unknown scopes %q (Google would answer invalid_scope; AllowScopes adds one)", userEmail, bad)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[clientID]; !ok {
		return "", fmt.Errorf("fakegoogle: issue refresh token for %q: unknown OAuth client %q; call AddOAuthClient first", userEmail, clientID)
	}
	if _, ok := s.users[userEmail]; !ok {
		return "", fmt.Errorf("fakegoogle: issue refresh token: unknown user %q; call AddUser first", userEmail)
	}
	tok := "1//fake-" + randomToken(48)
	s.refresh[tok] = &refreshGrant{clientID: clientID, userEmail: userEmail, scopes: expanded}
	return tok, nil
}

// authorizedUserFile is gcloud's ADC file, fields sorted as gcloud writes
// them, plus a token_uri pointing at the fake (Go's x/oauth2 honours it;
// other clients ignore it and need their token URL set in code).
type authorizedUserFile struct {
	Account        string `json:"account,omitempty"`
	ClientID       string `json:"client_id"`
	ClientSecret   string `json:"client_secret"`
	RefreshToken   string `json:"refresh_token"`
	TokenURI       string `json:"token_uri"`
	Type           string `json:"type"`
	UniverseDomain string `json:"universe_domain"`
}

// AuthorizedUserJSON returns an "authorized_user" credential file for a
// refresh token issued by IssueRefreshToken to clientID.
func (s *Server) AuthorizedUserJSON(clientID, refreshToken string) ([]byte, error) {
	base := s.BaseURL()
	if base == "" {
		return nil, fmt.Errorf("fakegoogle: authorized_user file: base URL not set; call SetBaseURL or use Start")
	}
	s.mu.Lock()
	secret, okClient := s.clients[clientID]
	g, okToken := s.refresh[refreshToken]
	s.mu.Unlock()
	switch {
	case !okClient:
		return nil, fmt.Errorf("fakegoogle: authorized_user file: unknown OAuth client %q", clientID)
	case !okToken:
		return nil, fmt.Errorf("fakegoogle: authorized_user file: unknown or revoked refresh token")
	case g.clientID != clientID:
		return nil, fmt.Errorf("fakegoogle: authorized_user file: refresh token was issued to client %q, not %q", g.clientID, clientID)
	}
	return marshalFile(authorizedUserFile{
		Account:        g.userEmail,
		ClientID:       clientID,
		ClientSecret:   secret,
		RefreshToken:   refreshToken,
		TokenURI:       base + "/token",
		Type:           "authorized_user",
		UniverseDomain: s.universe,
	})
}

// RevokeToken revokes a refresh or access token. As at Google, revoking
// either revokes the whole grant: the refresh token and every access token
// minted from it. Unknown tokens are ignored.
func (s *Server) RevokeToken(token string) {
	s.revoke(token)
}

// revoke reports whether token was known.
func (s *Server) revoke(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := token
	if a, ok := s.access[token]; ok {
		delete(s.access, token)
		if a.refresh == "" {
			return true
		}
		rt = a.refresh
	} else if _, ok := s.refresh[token]; !ok {
		return false
	}
	delete(s.refresh, rt)
	for tok, a := range s.access {
		if a.refresh == rt {
			delete(s.access, tok)
		}
	}
	return true
}

// storeAccess records a new access token, dropping expired ones now and
// then so a long-running emulator does not grow without bound.
func (s *Server) storeAccess(tok string, g *accessGrant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.access) >= 10000 {
		now := s.now()
		for t, a := range s.access {
			if !now.Before(a.expiry) {
				delete(s.access, t)
			}
		}
	}
	s.access[tok] = g
}

// lookupAccess returns the grant of an unexpired access token.
func (s *Server) lookupAccess(tok string) (*accessGrant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.access[tok]
	if !ok || !s.now().Before(a.expiry) {
		return nil, false
	}
	return a, true
}

// Scope names and their aliases. Google accepts the short OpenID Connect
// names and reports the full URLs (openid stays "openid").
const (
	scopeEmail   = "https://www.googleapis.com/auth/userinfo.email"
	scopeProfile = "https://www.googleapis.com/auth/userinfo.profile"
	scopeOpenID  = "openid"
)

// expandScopes splits a space-separated scope string, expands aliases and
// drops duplicates, keeping order.
func expandScopes(scope string) []string {
	var out []string
	for _, sc := range strings.Fields(scope) {
		switch sc {
		case "email":
			sc = scopeEmail
		case "profile":
			sc = scopeProfile
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}
