package fakegoogle

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// stateVersion is bumped when the state format changes. Version 2 added
// the IAM model, version 3 federation (identity pools, the fake AWS key and
// OIDC provider keys, workforce refresh tokens); LoadState still reads
// versions 1 and 2.
const stateVersion = 3

// state is the persisted registry, IAM grants and policies included. Access
// tokens are not kept: they are short-lived and clients fetch new ones after
// a restart.
type state struct {
	Version         int              `json:"version"`
	SigningKeys     []stateKey       `json:"signing_keys"`
	ServiceAccounts []stateSA        `json:"service_accounts"`
	Users           []User           `json:"users"`
	OAuthClients    []stateClient    `json:"oauth_clients"`
	RefreshTokens   []stateRefresher `json:"refresh_tokens"`
	// Federation (version 3); absent in older files.
	Federation *stateFederation `json:"federation,omitempty"`
	// Projects of Resource Manager (crm.go); absent in older files, which
	// load with DefaultProjectID only.
	Projects []Project `json:"projects,omitempty"`
	// Keys of Google-owned accounts (SecureTokenServiceAccount); absent in
	// older files, which load with new keys.
	SystemKeys map[string][]stateKey `json:"system_keys,omitempty"`
	// IAP's P-256 signing keys (iap.go), PKCS#8; absent in older files,
	// which load with new keys.
	IAPKeys []stateKey `json:"iap_keys,omitempty"`
}

type stateFederation struct {
	Providers              []IdentityProvider `json:"providers"`
	IdPKeys                []stateKey         `json:"idp_keys"`
	AWSAccessKeyID         string             `json:"aws_access_key_id"`
	AWSSecretAccessKey     string             `json:"aws_secret_access_key"`
	WorkforceRefreshTokens []stateWorkforce   `json:"workforce_refresh_tokens,omitempty"`
}

type stateWorkforce struct {
	Token string `json:"token"`
	workforceGrant
}

type stateKey struct {
	KeyID      string `json:"key_id"`
	PrivateKey string `json:"private_key"` // PKCS#8 PEM
}

type stateSA struct {
	Email     string     `json:"email"`
	UniqueID  string     `json:"unique_id"`
	ProjectID string     `json:"project_id"`
	Disabled  bool       `json:"disabled,omitempty"`
	Keys      []stateKey `json:"keys"`
	// IAM model (version 2); absent in version 1 files.
	TokenCreators     []string `json:"token_creators,omitempty"`
	LifetimeExtension bool     `json:"lifetime_extension,omitempty"`
	DWDScopes         []string `json:"dwd_scopes,omitempty"`
	// WorkloadIdentityUsers are federated members (principal://…,
	// principalSet://…) holding roles/iam.workloadIdentityUser.
	WorkloadIdentityUsers []string `json:"workload_identity_users,omitempty"`
}

type stateClient struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

type stateRefresher struct {
	Token     string   `json:"token"`
	ClientID  string   `json:"client_id"`
	UserEmail string   `json:"user_email"`
	Scopes    []string `json:"scopes"`
}

// MarshalState returns the fake's identities as JSON: signing keys, service
// accounts with their keys, users, OAuth clients and refresh tokens. The
// result contains private keys; store it like a secret (of a fake).
func (s *Server) MarshalState() ([]byte, error) {
	s.mu.Lock()
	signing := slices.Clone(s.signing)
	var st state
	st.Version = stateVersion
	type saSnap struct {
		info ServiceAccount
		keys []*rsaKey
		iam  stateSA // only the IAM fields
	}
	var sas []saSnap
	for _, sa := range s.sas {
		sas = append(sas, saSnap{sa.info, slices.Clone(sa.keys), stateSA{
			TokenCreators: tokenCreatorsOf(sa), LifetimeExtension: sa.lifetimeExtension,
			DWDScopes: slices.Clone(sa.dwdScopes), WorkloadIdentityUsers: workloadIdentityUsersOf(sa),
		}})
	}
	for _, u := range s.users {
		st.Users = append(st.Users, *u)
	}
	for id, sec := range s.clients {
		st.OAuthClients = append(st.OAuthClients, stateClient{id, sec})
	}
	for tok, g := range s.refresh {
		st.RefreshTokens = append(st.RefreshTokens, stateRefresher{tok, g.clientID, g.userEmail, slices.Clone(g.scopes)})
	}
	fed := &stateFederation{
		Providers: s.fed.providerList(), AWSAccessKeyID: s.fed.aws.KeyID, AWSSecretAccessKey: s.fed.aws.Secret,
	}
	for tok, g := range s.fed.wfRefresh {
		c := *g
		c.Scopes = slices.Clone(g.Scopes)
		fed.WorkforceRefreshTokens = append(fed.WorkforceRefreshTokens, stateWorkforce{tok, c})
	}
	idpKeys := slices.Clone(s.fed.idpKeys)
	for _, p := range s.projects {
		st.Projects = append(st.Projects, *p)
	}
	system := maps.Clone(s.system)
	for _, k := range s.iapKeys {
		der, err := x509.MarshalPKCS8PrivateKey(k.priv)
		if err != nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("fakegoogle: marshal state: IAP key: %w", err)
		}
		st.IAPKeys = append(st.IAPKeys, stateKey{k.kid, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
	}
	s.mu.Unlock()

	// Keys are encoded outside the lock: they may still be generating.
	encode := func(keys []*rsaKey) ([]stateKey, error) {
		var out []stateKey
		for _, k := range keys {
			p, err := k.privatePEM()
			if err != nil {
				return nil, err
			}
			out = append(out, stateKey{k.kid, p})
		}
		return out, nil
	}
	var err error
	if st.SigningKeys, err = encode(signing); err != nil {
		return nil, fmt.Errorf("fakegoogle: marshal state: %w", err)
	}
	if fed.IdPKeys, err = encode(idpKeys); err != nil {
		return nil, fmt.Errorf("fakegoogle: marshal state: identity provider: %w", err)
	}
	sort.Slice(fed.WorkforceRefreshTokens, func(i, j int) bool {
		return fed.WorkforceRefreshTokens[i].Token < fed.WorkforceRefreshTokens[j].Token
	})
	st.Federation = fed
	st.SystemKeys = map[string][]stateKey{}
	for email, keys := range system {
		if st.SystemKeys[email], err = encode(keys); err != nil {
			return nil, fmt.Errorf("fakegoogle: marshal state: %s: %w", email, err)
		}
	}
	for _, sa := range sas {
		keys, err := encode(sa.keys)
		if err != nil {
			return nil, fmt.Errorf("fakegoogle: marshal state: service account %q: %w", sa.info.Email, err)
		}
		st.ServiceAccounts = append(st.ServiceAccounts, stateSA{
			Email: sa.info.Email, UniqueID: sa.info.UniqueID, ProjectID: sa.info.ProjectID,
			Disabled: sa.info.Disabled, Keys: keys,
			TokenCreators: sa.iam.TokenCreators, LifetimeExtension: sa.iam.LifetimeExtension, DWDScopes: sa.iam.DWDScopes,
			WorkloadIdentityUsers: sa.iam.WorkloadIdentityUsers,
		})
	}
	// Sorted so the same registry always gives the same file.
	sort.Slice(st.ServiceAccounts, func(i, j int) bool { return st.ServiceAccounts[i].Email < st.ServiceAccounts[j].Email })
	sort.Slice(st.Users, func(i, j int) bool { return st.Users[i].Email < st.Users[j].Email })
	sort.Slice(st.OAuthClients, func(i, j int) bool { return st.OAuthClients[i].ClientID < st.OAuthClients[j].ClientID })
	sort.Slice(st.RefreshTokens, func(i, j int) bool { return st.RefreshTokens[i].Token < st.RefreshTokens[j].Token })
	sort.Slice(st.Projects, func(i, j int) bool { return st.Projects[i].ID < st.Projects[j].ID })
	out, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("fakegoogle: marshal state: %w", err)
	}
	return append(out, '\n'), nil
}

// LoadState replaces the fake's identities and IAM model with those from
// MarshalState. Nothing changes if data is invalid. Access tokens issued
// before the call stay valid until they expire. Files written before the
// IAM model (version 1) load with no grants or policies, plus what New
// would have added: DefaultTargetServiceAccount (with a new key) and its
// demo grants, unless the file has an account of that name.
func (s *Server) LoadState(data []byte) error {
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("fakegoogle: load state: %w", err)
	}
	if st.Version < 1 || st.Version > stateVersion {
		return fmt.Errorf("fakegoogle: load state: version %d, want 1 to %d", st.Version, stateVersion)
	}
	decode := func(what string, keys []stateKey) ([]*rsaKey, error) {
		if len(keys) == 0 {
			return nil, fmt.Errorf("fakegoogle: load state: %s has no keys", what)
		}
		var out []*rsaKey
		for _, k := range keys {
			if len(k.KeyID) == 0 {
				return nil, fmt.Errorf("fakegoogle: load state: %s: key without key_id", what)
			}
			priv, err := parsePrivatePEM(k.PrivateKey)
			if err != nil {
				return nil, fmt.Errorf("fakegoogle: load state: %s key %s: %w", what, k.KeyID, err)
			}
			out = append(out, existingKey(k.KeyID, priv))
		}
		return out, nil
	}
	signing, err := decode("signing keys", st.SigningKeys)
	if err != nil {
		return err
	}
	sas := map[string]*serviceAccount{}
	for _, v := range st.ServiceAccounts {
		if !strings.Contains(v.Email, "@") || v.UniqueID == "" {
			return fmt.Errorf("fakegoogle: load state: bad service account %q", v.Email)
		}
		keys, err := decode(fmt.Sprintf("service account %q", v.Email), v.Keys)
		if err != nil {
			return err
		}
		sa := &serviceAccount{
			info:              ServiceAccount{Email: v.Email, UniqueID: v.UniqueID, ProjectID: v.ProjectID, KeyID: keys[0].kid, Disabled: v.Disabled},
			keys:              keys,
			lifetimeExtension: v.LifetimeExtension,
			dwdScopes:         slices.Clone(v.DWDScopes),
		}
		for _, m := range v.TokenCreators {
			if checkFederatedMember(m) == nil {
				if sa.tokenCreators == nil {
					sa.tokenCreators = map[string]bool{}
				}
				sa.tokenCreators[m] = true
				continue
			}
			email, err := normalizeMember(m)
			if err != nil {
				return fmt.Errorf("fakegoogle: load state: service account %q: %w", v.Email, err)
			}
			if sa.tokenCreators == nil {
				sa.tokenCreators = map[string]bool{}
			}
			sa.tokenCreators[email] = true
		}
		if err := loadWorkloadIdentityUsers(sa, v.WorkloadIdentityUsers); err != nil {
			return fmt.Errorf("fakegoogle: load state: service account %q: %w", v.Email, err)
		}
		sas[v.Email] = sa
	}
	if _, ok := sas[DefaultTargetServiceAccount]; !ok && st.Version == 1 {
		key := generateKey(s.bits)
		sas[DefaultTargetServiceAccount] = &serviceAccount{
			info: ServiceAccount{
				Email: DefaultTargetServiceAccount, UniqueID: newNumericID(),
				ProjectID: projectOf(DefaultTargetServiceAccount), KeyID: key.kid,
			},
			keys:          []*rsaKey{key},
			tokenCreators: map[string]bool{DefaultServiceAccount: true, DefaultUser: true},
		}
	}
	users := map[string]*User{}
	for _, u := range st.Users {
		if u.Email == "" || u.Subject == "" {
			return errors.New("fakegoogle: load state: user without email or subject")
		}
		users[u.Email] = &u
	}
	clients := map[string]string{}
	for _, c := range st.OAuthClients {
		clients[c.ClientID] = c.ClientSecret
	}
	refresh := map[string]*refreshGrant{}
	for _, t := range st.RefreshTokens {
		if _, ok := clients[t.ClientID]; !ok {
			return fmt.Errorf("fakegoogle: load state: refresh token for unknown client %q", t.ClientID)
		}
		if _, ok := users[t.UserEmail]; !ok {
			return fmt.Errorf("fakegoogle: load state: refresh token for unknown user %q", t.UserEmail)
		}
		refresh[t.Token] = &refreshGrant{clientID: t.ClientID, userEmail: t.UserEmail, scopes: t.Scopes}
	}
	fed, err := s.loadFederation(st.Federation, decode)
	if err != nil {
		return err
	}
	if st.Federation == nil {
		// Older files: add what New would have added.
		if _, ok := clients[DefaultWorkforceClientID]; !ok {
			clients[DefaultWorkforceClientID] = DefaultWorkforceClientSecret
		}
		if sa, ok := sas[DefaultTargetServiceAccount]; ok {
			if sa.tokenCreators == nil {
				sa.tokenCreators = map[string]bool{}
			}
			sa.tokenCreators[DefaultWorkloadPoolMember] = true
			sa.tokenCreators[DefaultWorkforcePoolMember] = true
		}
	}
	for tok, g := range fed.wfRefresh {
		if _, ok := clients[g.ClientID]; !ok {
			return fmt.Errorf("fakegoogle: load state: workforce refresh token for unknown client %q", g.ClientID)
		}
		if _, ok := fed.providers[g.Provider]; !ok {
			return fmt.Errorf("fakegoogle: load state: workforce refresh token %.8s… for unknown provider %q", tok, g.Provider)
		}
	}

	projects, err := s.loadProjects(st.Projects)
	if err != nil {
		return err
	}
	system := map[string][]*rsaKey{}
	for email, keys := range st.SystemKeys {
		if system[email], err = decode(email, keys); err != nil {
			return err
		}
	}
	iapKeys, err := loadIAPKeys(st.IAPKeys)
	if err != nil {
		return err
	}
	if system[SecureTokenServiceAccount] == nil {
		system[SecureTokenServiceAccount] = []*rsaKey{generateKey(s.bits), generateKey(s.bits)}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.signing, s.sas, s.users, s.clients, s.refresh = signing, sas, users, clients, refresh
	s.fed, s.projects, s.system, s.iapKeys = fed, projects, system, iapKeys
	return nil
}

// loadProjects checks a state file's projects; a file without any gets
// the default project, as New makes.
func (s *Server) loadProjects(list []Project) (map[string]*Project, error) {
	out := map[string]*Project{}
	if len(list) == 0 {
		out[DefaultProjectID] = defaultProject(s.now())
		return out, nil
	}
	for _, p := range list {
		p := p
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("fakegoogle: load state: %w", err)
		}
		out[p.ID] = &p
	}
	return out, nil
}

// loadFederation rebuilds the federation state from a file's, or the
// defaults New makes (with fresh keys) when the file predates it.
func (s *Server) loadFederation(sf *stateFederation, decode func(string, []stateKey) ([]*rsaKey, error)) (*federation, error) {
	fed := newFederation(s.bits)
	if sf == nil {
		for _, p := range defaultProviders() {
			p := p
			fed.providers[p.Name()] = &p
		}
		return fed, nil
	}
	for _, p := range sf.Providers {
		p := p
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("fakegoogle: load state: identity provider %q: %w", p.Name(), err)
		}
		fed.providers[p.Name()] = &p
	}
	keys, err := decode("identity provider", sf.IdPKeys)
	if err != nil {
		return nil, err
	}
	fed.idpKeys = keys
	if sf.AWSAccessKeyID == "" || sf.AWSSecretAccessKey == "" {
		return nil, errors.New("fakegoogle: load state: federation without the fake AWS access key")
	}
	fed.aws.KeyID, fed.aws.Secret = sf.AWSAccessKeyID, sf.AWSSecretAccessKey
	for _, t := range sf.WorkforceRefreshTokens {
		g := t.workforceGrant
		fed.wfRefresh[t.Token] = &g
	}
	return fed, nil
}

// loadIAPKeys decodes a state file's IAP keys; a file without any gets new
// ones.
func loadIAPKeys(keys []stateKey) ([]*ecKey, error) {
	if len(keys) == 0 {
		return []*ecKey{newECKey(), newECKey()}, nil
	}
	var out []*ecKey
	for _, k := range keys {
		block, _ := pem.Decode([]byte(k.PrivateKey))
		if block == nil || k.KeyID == "" {
			return nil, fmt.Errorf("fakegoogle: load state: IAP key %q: no PEM block or no key_id", k.KeyID)
		}
		priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		ec, ok := priv.(*ecdsa.PrivateKey)
		if err != nil || !ok || ec.Curve != elliptic.P256() {
			return nil, fmt.Errorf("fakegoogle: load state: IAP key %q: not a P-256 key (%v)", k.KeyID, err)
		}
		out = append(out, &ecKey{kid: k.KeyID, priv: ec})
	}
	return out, nil
}
