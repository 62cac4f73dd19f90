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
	"time"
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
	snap, err := s.snapshot()
	if err != nil {
		return nil, err
	}
	st, err := snap.encode()
	if err != nil {
		return nil, err
	}
	st.sortLists()
	out, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("fakegoogle: marshal state: %w", err)
	}
	return append(out, '\n'), nil
}

// stateSnapshot is what MarshalState copies under the lock. RSA keys are
// encoded after the lock is released: they may still be generating.
type stateSnapshot struct {
	st      state // all but the RSA keys
	signing []*rsaKey
	sas     []saSnapshot
	fed     *stateFederation // all but IdPKeys
	idpKeys []*rsaKey
	system  map[string][]*rsaKey
}

type saSnapshot struct {
	sa   stateSA // all but Keys
	keys []*rsaKey
}

// snapshot copies the registry under the lock.
func (s *Server) snapshot() (*stateSnapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := &stateSnapshot{
		signing: slices.Clone(s.signing), idpKeys: slices.Clone(s.fed.idpKeys), system: maps.Clone(s.system),
	}
	st := &snap.st
	st.Version = stateVersion
	for _, sa := range s.sas {
		snap.sas = append(snap.sas, saSnapshot{stateSA{
			Email: sa.info.Email, UniqueID: sa.info.UniqueID, ProjectID: sa.info.ProjectID, Disabled: sa.info.Disabled,
			TokenCreators: tokenCreatorsOf(sa), LifetimeExtension: sa.lifetimeExtension, DWDScopes: slices.Clone(sa.dwdScopes),
			WorkloadIdentityUsers: workloadIdentityUsersOf(sa),
		}, slices.Clone(sa.keys)})
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
	for _, p := range s.projects {
		st.Projects = append(st.Projects, *p)
	}
	snap.fed = &stateFederation{
		Providers: s.fed.providerList(), AWSAccessKeyID: s.fed.aws.KeyID, AWSSecretAccessKey: s.fed.aws.Secret,
	}
	for tok, g := range s.fed.wfRefresh {
		c := *g
		c.Scopes = slices.Clone(g.Scopes)
		snap.fed.WorkforceRefreshTokens = append(snap.fed.WorkforceRefreshTokens, stateWorkforce{tok, c})
	}
	for _, k := range s.iapKeys {
		der, err := x509.MarshalPKCS8PrivateKey(k.priv)
		if err != nil {
			return nil, fmt.Errorf("fakegoogle: marshal state: IAP key: %w", err)
		}
		st.IAPKeys = append(st.IAPKeys, stateKey{k.kid, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
	}
	return snap, nil
}

// encode fills in the snapshot's RSA keys, waiting for any still
// generating.
func (snap *stateSnapshot) encode() (*state, error) {
	st := &snap.st
	var err error
	if st.SigningKeys, err = encodeKeys(snap.signing); err != nil {
		return nil, fmt.Errorf("fakegoogle: marshal state: %w", err)
	}
	if snap.fed.IdPKeys, err = encodeKeys(snap.idpKeys); err != nil {
		return nil, fmt.Errorf("fakegoogle: marshal state: identity provider: %w", err)
	}
	st.Federation = snap.fed
	st.SystemKeys = map[string][]stateKey{}
	for email, keys := range snap.system {
		if st.SystemKeys[email], err = encodeKeys(keys); err != nil {
			return nil, fmt.Errorf("fakegoogle: marshal state: %s: %w", email, err)
		}
	}
	for _, sa := range snap.sas {
		if sa.sa.Keys, err = encodeKeys(sa.keys); err != nil {
			return nil, fmt.Errorf("fakegoogle: marshal state: service account %q: %w", sa.sa.Email, err)
		}
		st.ServiceAccounts = append(st.ServiceAccounts, sa.sa)
	}
	return st, nil
}

func encodeKeys(keys []*rsaKey) ([]stateKey, error) {
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

// sortLists sorts every list, so that the same registry always gives the
// same file.
func (st *state) sortLists() {
	sort.Slice(st.ServiceAccounts, func(i, j int) bool { return st.ServiceAccounts[i].Email < st.ServiceAccounts[j].Email })
	sort.Slice(st.Users, func(i, j int) bool { return st.Users[i].Email < st.Users[j].Email })
	sort.Slice(st.OAuthClients, func(i, j int) bool { return st.OAuthClients[i].ClientID < st.OAuthClients[j].ClientID })
	sort.Slice(st.RefreshTokens, func(i, j int) bool { return st.RefreshTokens[i].Token < st.RefreshTokens[j].Token })
	sort.Slice(st.Projects, func(i, j int) bool { return st.Projects[i].ID < st.Projects[j].ID })
	if fed := st.Federation; fed != nil {
		sort.Slice(fed.WorkforceRefreshTokens, func(i, j int) bool {
			return fed.WorkforceRefreshTokens[i].Token < fed.WorkforceRefreshTokens[j].Token
		})
	}
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
	l := &loaded{bits: s.bits, now: s.now}
	var err error
	if l.signing, err = decodeKeys("signing keys", st.SigningKeys); err != nil {
		return err
	}
	for _, step := range []func(*state) error{
		l.addServiceAccounts, l.addIdentities, l.addFederation, l.addProjects, l.addOtherKeys,
	} {
		if err := step(&st); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signing, s.sas, s.users, s.clients, s.refresh = l.signing, l.sas, l.users, l.clients, l.refresh
	s.fed, s.projects, s.system, s.iapKeys = l.fed, l.projects, l.system, l.iapKeys
	return nil
}

// loaded is what LoadState builds from a file before it replaces the
// Server's registry; bits is the size of keys made for what older files
// lack.
type loaded struct {
	bits     int
	now      func() time.Time
	signing  []*rsaKey
	sas      map[string]*serviceAccount
	users    map[string]*User
	clients  map[string]string
	refresh  map[string]*refreshGrant
	fed      *federation
	projects map[string]*Project
	system   map[string][]*rsaKey
	iapKeys  []*ecKey
}

// decodeKeys decodes a state file's RSA keys; what names them in errors.
func decodeKeys(what string, keys []stateKey) ([]*rsaKey, error) {
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

// addServiceAccounts loads the service accounts with their keys and IAM
// fields; a version 1 file gets DefaultTargetServiceAccount as New makes it.
func (l *loaded) addServiceAccounts(st *state) error {
	l.sas = map[string]*serviceAccount{}
	for _, v := range st.ServiceAccounts {
		if !strings.Contains(v.Email, "@") || v.UniqueID == "" {
			return fmt.Errorf("fakegoogle: load state: bad service account %q", v.Email)
		}
		keys, err := decodeKeys(fmt.Sprintf("service account %q", v.Email), v.Keys)
		if err != nil {
			return err
		}
		sa := &serviceAccount{
			info:              ServiceAccount{Email: v.Email, UniqueID: v.UniqueID, ProjectID: v.ProjectID, KeyID: keys[0].kid, Disabled: v.Disabled},
			keys:              keys,
			lifetimeExtension: v.LifetimeExtension,
			dwdScopes:         slices.Clone(v.DWDScopes),
		}
		if err := loadTokenCreators(sa, v.TokenCreators); err != nil {
			return err
		}
		if err := loadWorkloadIdentityUsers(sa, v.WorkloadIdentityUsers); err != nil {
			return fmt.Errorf("fakegoogle: load state: service account %q: %w", v.Email, err)
		}
		l.sas[v.Email] = sa
	}
	if _, ok := l.sas[DefaultTargetServiceAccount]; !ok && st.Version == 1 {
		key := generateKey(l.bits)
		l.sas[DefaultTargetServiceAccount] = &serviceAccount{
			info: ServiceAccount{
				Email: DefaultTargetServiceAccount, UniqueID: newNumericID(),
				ProjectID: projectOf(DefaultTargetServiceAccount), KeyID: key.kid,
			},
			keys:          []*rsaKey{key},
			tokenCreators: map[string]bool{DefaultServiceAccount: true, DefaultUser: true},
		}
	}
	return nil
}

// loadTokenCreators sets sa's Token Creators: federated principals as
// they are, others as normalized emails.
func loadTokenCreators(sa *serviceAccount, members []string) error {
	for _, m := range members {
		if sa.tokenCreators == nil {
			sa.tokenCreators = map[string]bool{}
		}
		if checkFederatedMember(m) == nil {
			sa.tokenCreators[m] = true
			continue
		}
		email, err := normalizeMember(m)
		if err != nil {
			return fmt.Errorf("fakegoogle: load state: service account %q: %w", sa.info.Email, err)
		}
		sa.tokenCreators[email] = true
	}
	return nil
}

// addIdentities loads users, OAuth clients and the refresh tokens between
// them.
func (l *loaded) addIdentities(st *state) error {
	l.users = map[string]*User{}
	for _, u := range st.Users {
		if u.Email == "" || u.Subject == "" {
			return errors.New("fakegoogle: load state: user without email or subject")
		}
		l.users[u.Email] = &u
	}
	l.clients = map[string]string{}
	for _, c := range st.OAuthClients {
		l.clients[c.ClientID] = c.ClientSecret
	}
	l.refresh = map[string]*refreshGrant{}
	for _, t := range st.RefreshTokens {
		if _, ok := l.clients[t.ClientID]; !ok {
			return fmt.Errorf("fakegoogle: load state: refresh token for unknown client %q", t.ClientID)
		}
		if _, ok := l.users[t.UserEmail]; !ok {
			return fmt.Errorf("fakegoogle: load state: refresh token for unknown user %q", t.UserEmail)
		}
		l.refresh[t.Token] = &refreshGrant{clientID: t.ClientID, userEmail: t.UserEmail, scopes: t.Scopes}
	}
	return nil
}

// addFederation loads identity pools, the fake AWS key and the workforce
// refresh tokens; a file older than federation gets what New adds.
func (l *loaded) addFederation(st *state) error {
	var err error
	if l.fed, err = loadFederation(st.Federation, l.bits); err != nil {
		return err
	}
	if st.Federation == nil {
		if _, ok := l.clients[DefaultWorkforceClientID]; !ok {
			l.clients[DefaultWorkforceClientID] = DefaultWorkforceClientSecret
		}
		if sa, ok := l.sas[DefaultTargetServiceAccount]; ok {
			if sa.tokenCreators == nil {
				sa.tokenCreators = map[string]bool{}
			}
			sa.tokenCreators[DefaultWorkloadPoolMember] = true
			sa.tokenCreators[DefaultWorkforcePoolMember] = true
		}
	}
	for tok, g := range l.fed.wfRefresh {
		if _, ok := l.clients[g.ClientID]; !ok {
			return fmt.Errorf("fakegoogle: load state: workforce refresh token for unknown client %q", g.ClientID)
		}
		if _, ok := l.fed.providers[g.Provider]; !ok {
			return fmt.Errorf("fakegoogle: load state: workforce refresh token %.8s… for unknown provider %q", tok, g.Provider)
		}
	}
	return nil
}

// addProjects loads Resource Manager's projects.
func (l *loaded) addProjects(st *state) error {
	var err error
	l.projects, err = loadProjects(st.Projects, l.now)
	return err
}

// addOtherKeys loads the keys of Google-owned accounts and IAP's, or makes
// new ones for a file without them.
func (l *loaded) addOtherKeys(st *state) error {
	l.system = map[string][]*rsaKey{}
	for email, keys := range st.SystemKeys {
		var err error
		if l.system[email], err = decodeKeys(email, keys); err != nil {
			return err
		}
	}
	if l.system[SecureTokenServiceAccount] == nil {
		l.system[SecureTokenServiceAccount] = []*rsaKey{generateKey(l.bits), generateKey(l.bits)}
	}
	var err error
	l.iapKeys, err = loadIAPKeys(st.IAPKeys)
	return err
}

// loadProjects checks a state file's projects; a file without any gets
// the default project, as New makes.
func loadProjects(list []Project, now func() time.Time) (map[string]*Project, error) {
	out := map[string]*Project{}
	if len(list) == 0 {
		out[DefaultProjectID] = defaultProject(now())
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
func loadFederation(sf *stateFederation, bits int) (*federation, error) {
	fed := newFederation(bits)
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
	keys, err := decodeKeys("identity provider", sf.IdPKeys)
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
