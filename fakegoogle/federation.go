package fakegoogle

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Workload and workforce identity federation (protocol.md §7.1, §7.3, §8.3):
// a registry of identity pools and their providers; STS's exchange of
// external subject tokens for access tokens of federated principals
// (stsFederate); workforce refresh at /v1/oauthtoken; and the IAM side, where
// a federated principal (principal://…) or a whole pool (principalSet://…/*)
// can hold Token Creator on a service account. The subject tokens come from
// the fake's own AWS account (aws.go) and OpenID Connect identity provider
// (oidcprovider.go): the fake verifies them for real, signature included.

// The federation every new Server has, so that `gcptoken emulator` and
// users' tests work without setup.
const (
	// DefaultProjectNumber is the project number of the default workload
	// identity pool.
	DefaultProjectNumber = "987654321098"
	// DefaultWorkloadPool is the default workload identity pool.
	DefaultWorkloadPool = "fake-pool"
	// DefaultAWSProvider is the default pool's AWS provider; it trusts
	// FakeAWSAccountID.
	DefaultAWSProvider = "fake-aws"
	// DefaultOIDCProvider is the default pool's OIDC provider; it trusts
	// the fake's identity provider (OIDCIssuer).
	DefaultOIDCProvider = "fake-oidc"
	// DefaultWorkforcePool is the default workforce pool.
	DefaultWorkforcePool = "fake-workforce-pool"
	// DefaultWorkforceProvider is the workforce pool's OIDC provider.
	DefaultWorkforceProvider = "fake-workforce-oidc"
	// DefaultWorkforceClientID and DefaultWorkforceClientSecret are an
	// OAuth client for workforce token exchange and refresh (HTTP Basic).
	DefaultWorkforceClientID     = "fake-workforce-client"
	DefaultWorkforceClientSecret = "fakegoogle-workforce-secret"

	// DefaultAWSAudience is the audience of external_account files for the
	// default AWS provider.
	DefaultAWSAudience = "//iam.googleapis.com/projects/" + DefaultProjectNumber +
		"/locations/global/workloadIdentityPools/" + DefaultWorkloadPool + "/providers/" + DefaultAWSProvider
	// DefaultOIDCAudience is the audience of external_account files for the
	// default OIDC provider, and the aud its subject tokens may carry (with
	// "https:" in front, as Google's default allowed audience).
	DefaultOIDCAudience = "//iam.googleapis.com/projects/" + DefaultProjectNumber +
		"/locations/global/workloadIdentityPools/" + DefaultWorkloadPool + "/providers/" + DefaultOIDCProvider
	// DefaultWorkforceAudience is the audience of the default workforce
	// provider.
	DefaultWorkforceAudience = "//iam.googleapis.com/locations/global/workforcePools/" +
		DefaultWorkforcePool + "/providers/" + DefaultWorkforceProvider
	// DefaultWorkloadPoolMember is the principalSet of every identity in the
	// default pool; New grants it Token Creator on
	// DefaultTargetServiceAccount.
	DefaultWorkloadPoolMember = "principalSet://iam.googleapis.com/projects/" + DefaultProjectNumber +
		"/locations/global/workloadIdentityPools/" + DefaultWorkloadPool + "/*"
	// DefaultWorkforcePoolMember is the principalSet of the default
	// workforce pool, also a Token Creator on DefaultTargetServiceAccount.
	DefaultWorkforcePoolMember = "principalSet://iam.googleapis.com/locations/global/workforcePools/" + DefaultWorkforcePool + "/*"
)

// Subject token types of STS's token exchange (protocol.md §7.1).
const (
	SubjectTokenTypeAWS     = "urn:ietf:params:aws:token-type:aws4_request"
	SubjectTokenTypeJWT     = "urn:ietf:params:oauth:token-type:jwt"
	SubjectTokenTypeIDToken = "urn:ietf:params:oauth:token-type:id_token"
	subjectTokenTypeSAML2   = "urn:ietf:params:oauth:token-type:saml2"
	subjectTokenTypeMTLS    = "urn:ietf:params:oauth:token-type:mtls"
)

// Identity provider types.
const (
	ProviderAWS  = "aws"
	ProviderOIDC = "oidc"
)

// iamHost prefixes resource names in audiences and principals.
const iamHost = "//iam.googleapis.com/"

// IdentityProvider is a provider of a workload identity pool (ProjectNumber
// set) or of a workforce pool (Workforce true).
type IdentityProvider struct {
	// ProjectNumber is the workload pool's project number (digits); empty
	// for workforce pools.
	ProjectNumber string `json:"project_number,omitempty"`
	// Workforce marks a workforce pool provider.
	Workforce bool `json:"workforce,omitempty"`
	// Pool and Provider are the ids of the pool and the provider.
	Pool     string `json:"pool"`
	Provider string `json:"provider"`
	// Type is ProviderAWS or ProviderOIDC (workforce: OIDC only).
	Type string `json:"type"`
	// AWSAccountID is the AWS account whose identities the provider
	// accepts. Optional; default FakeAWSAccountID.
	AWSAccountID string `json:"aws_account_id,omitempty"`
	// AllowedAudiences are the aud values OIDC subject tokens may carry.
	// Optional; default the provider's name with "https:" and with "//" in
	// front, as Google's default allowed audience.
	AllowedAudiences []string `json:"allowed_audiences,omitempty"`
	// Disabled providers answer every exchange with invalid_target.
	Disabled bool `json:"disabled,omitempty"`
	// Issuer is the iss an OIDC provider's subject tokens carry (Google's
	// oidc.issuerUri), an https URL. Optional; default the fake's own
	// identity provider (OIDCIssuer). Requires JWKS.
	Issuer string `json:"issuer,omitempty"`
	// JWKS is Issuer's JSON Web Key Set (Google's oidc.jwksJson): the
	// keys its tokens are checked with. The fake fetches no keys. Required
	// with Issuer; for a Kubernetes cluster, its /openid/v1/jwks.
	JWKS json.RawMessage `json:"jwks,omitempty"`
	// AttributeMapping maps google.subject (and attribute.NAME, which the
	// fake checks but does not use) to a claim: assertion.CLAIM or
	// assertion['CLAIM']['FIELD']. Optional; default google.subject =
	// assertion.sub, which for a Kubernetes service-account token is
	// system:serviceaccount:NAMESPACE:NAME.
	AttributeMapping map[string]string `json:"attribute_mapping,omitempty"`
}

// Name is the provider's resource name, without the //iam.googleapis.com/
// prefix.
func (p IdentityProvider) Name() string {
	return p.PoolName() + "/providers/" + p.Provider
}

// PoolName is the pool's resource name.
func (p IdentityProvider) PoolName() string {
	if p.Workforce {
		return "locations/global/workforcePools/" + p.Pool
	}
	return "projects/" + p.ProjectNumber + "/locations/global/workloadIdentityPools/" + p.Pool
}

// Audience is the provider's full resource name, the audience of STS
// requests and external_account files.
func (p IdentityProvider) Audience() string { return iamHost + p.Name() }

// Principal is the IAM principal of subject in the provider's pool, the
// caller that IAM sees for tokens exchanged through it.
func (p IdentityProvider) Principal(subject string) string {
	return "principal:" + iamHost + p.PoolName() + "/subject/" + subject
}

// PoolMember is the principalSet of every identity in the provider's pool.
func (p IdentityProvider) PoolMember() string {
	return "principalSet:" + iamHost + p.PoolName() + "/*"
}

func (p *IdentityProvider) validate() error {
	id := func(what, v string) error {
		if v == "" || len(v) > 32 || strings.ContainsAny(v, "/ \t\n:*") {
			return fmt.Errorf("%s %q must be 1 to 32 characters without / : * or spaces", what, v)
		}
		return nil
	}
	if err := id("pool", p.Pool); err != nil {
		return err
	}
	if err := id("provider", p.Provider); err != nil {
		return err
	}
	switch {
	case p.Workforce && p.ProjectNumber != "":
		return fmt.Errorf("a workforce pool has no project number (got %q)", p.ProjectNumber)
	case !p.Workforce && !isDigits(p.ProjectNumber):
		return fmt.Errorf("project number %q must be digits (a project number, not a project id)", p.ProjectNumber)
	case p.Type != ProviderAWS && p.Type != ProviderOIDC:
		return fmt.Errorf("type %q must be %q or %q", p.Type, ProviderAWS, ProviderOIDC)
	case p.Workforce && p.Type != ProviderOIDC:
		return fmt.Errorf("workforce pools have %q providers only", ProviderOIDC)
	case p.Type == ProviderAWS && p.AWSAccountID != "" && (len(p.AWSAccountID) != 12 || !isDigits(p.AWSAccountID)):
		return fmt.Errorf("AWS account id %q must be 12 digits", p.AWSAccountID)
	}
	return p.validateIssuer()
}

// AddIdentityProvider registers (or replaces) a pool provider.
func (s *Server) AddIdentityProvider(p IdentityProvider) error {
	if err := p.validate(); err != nil {
		return fmt.Errorf("fakegoogle: add identity provider: %w", err)
	}
	if p.Type == ProviderAWS && p.AWSAccountID == "" {
		p.AWSAccountID = FakeAWSAccountID
	}
	p.AllowedAudiences = slices.Clone(p.AllowedAudiences)
	p.JWKS, p.AttributeMapping = slices.Clone(p.JWKS), maps.Clone(p.AttributeMapping)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fed.providers[p.Name()] = &p
	return nil
}

// SetIdentityProviderDisabled disables or re-enables the provider whose
// Audience is audience.
func (s *Server) SetIdentityProviderDisabled(audience string, disabled bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.fed.providers[strings.TrimPrefix(audience, iamHost)]
	if !ok {
		return fmt.Errorf("fakegoogle: no identity provider %q", audience)
	}
	p.Disabled = disabled
	return nil
}

// IdentityProviders returns the registered providers, sorted by name.
func (s *Server) IdentityProviders() []IdentityProvider {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fed.providerList()
}

// federation is the fake's federation state; s.mu guards it.
type federation struct {
	providers map[string]*IdentityProvider // by Name()
	// idpKeys sign the fake identity provider's tokens; [0] signs.
	idpKeys []*rsaKey
	// aws is the fake AWS account's IAM user key and instance role.
	aws *awsAccount
	// wfRefresh maps workforce refresh tokens to what they stand for.
	wfRefresh map[string]*workforceGrant
}

func newFederation(bits int) *federation {
	return &federation{
		providers: map[string]*IdentityProvider{},
		idpKeys:   []*rsaKey{generateKey(bits)},
		aws:       newAWSAccount(),
		wfRefresh: map[string]*workforceGrant{},
	}
}

func (f *federation) providerList() []IdentityProvider {
	out := make([]IdentityProvider, 0, len(f.providers))
	for _, p := range f.providers {
		c := *p
		c.AllowedAudiences = slices.Clone(p.AllowedAudiences)
		c.JWKS, c.AttributeMapping = slices.Clone(p.JWKS), maps.Clone(p.AttributeMapping)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b IdentityProvider) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

// defaultProviders are the providers New registers.
func defaultProviders() []IdentityProvider {
	return []IdentityProvider{
		{ProjectNumber: DefaultProjectNumber, Pool: DefaultWorkloadPool, Provider: DefaultAWSProvider, Type: ProviderAWS, AWSAccountID: FakeAWSAccountID},
		{ProjectNumber: DefaultProjectNumber, Pool: DefaultWorkloadPool, Provider: DefaultOIDCProvider, Type: ProviderOIDC},
		{Workforce: true, Pool: DefaultWorkforcePool, Provider: DefaultWorkforceProvider, Type: ProviderOIDC},
	}
}

// addDefaultFederation registers the default providers, the workforce
// OAuth client and the pools' Token Creator grants on
// DefaultTargetServiceAccount (if it exists).
func (s *Server) addDefaultFederation() error {
	for _, p := range defaultProviders() {
		if err := s.AddIdentityProvider(p); err != nil {
			return err
		}
	}
	s.AddOAuthClient(DefaultWorkforceClientID, DefaultWorkforceClientSecret)
	if _, ok := s.ServiceAccount(DefaultTargetServiceAccount); !ok {
		return nil
	}
	for _, m := range []string{DefaultWorkloadPoolMember, DefaultWorkforcePoolMember} {
		if err := s.GrantFederatedTokenCreator(m, DefaultTargetServiceAccount); err != nil {
			return err
		}
	}
	return nil
}

// checkFederatedMember accepts principal://iam.googleapis.com/… and
// principalSet://iam.googleapis.com/… members of a workload or workforce
// pool.
func checkFederatedMember(m string) error {
	rest, ok := strings.CutPrefix(m, "principal:"+iamHost)
	if !ok {
		rest, ok = strings.CutPrefix(m, "principalSet:"+iamHost)
	}
	if !ok || strings.ContainsAny(m, " \t\n") {
		return fmt.Errorf("member %q is not principal://iam.googleapis.com/… or principalSet://iam.googleapis.com/…", m)
	}
	if !strings.HasPrefix(rest, "projects/") && !strings.HasPrefix(rest, "locations/global/workforcePools/") {
		return fmt.Errorf("member %q names no workload identity pool (projects/NUMBER/locations/global/workloadIdentityPools/POOL/…) or workforce pool", m)
	}
	if !strings.Contains(rest, "/subject/") && !strings.HasSuffix(rest, "/*") && !strings.Contains(rest, "/attribute.") && !strings.Contains(rest, "/group/") {
		return fmt.Errorf("member %q is neither …/subject/SUBJECT nor a principal set (…/*)", m)
	}
	return nil
}

// GrantFederatedTokenCreator grants roles/iam.serviceAccountTokenCreator on
// serviceAccount to a federated member: one identity,
// principal://iam.googleapis.com/{pool}/subject/{subject} (see
// IdentityProvider.Principal), or every identity of a pool,
// principalSet://iam.googleapis.com/{pool}/* (IdentityProvider.PoolMember).
// Tokens that STS issued for such a principal may then impersonate the
// account. Attribute-based sets (…/attribute.NAME/VALUE) are stored but
// match nothing: the fake maps no attributes.
func (s *Server) GrantFederatedTokenCreator(member, serviceAccount string) error {
	if err := checkFederatedMember(member); err != nil {
		return fmt.Errorf("fakegoogle: grant Token Creator on %q: %w", serviceAccount, err)
	}
	return s.grantTokenCreator(member, member, serviceAccount)
}

// tokenCreatorLocked reports whether principal (an email, or a federated
// principal://… from STS) holds Token Creator on sa, directly or, for a
// federated principal, through its pool's principalSet. s.mu must be held.
func tokenCreatorLocked(sa *serviceAccount, principal string) bool {
	return grantedTo(sa.tokenCreators, principal)
}

// grantedTo reports whether principal is one of members, directly or, for
// a federated principal://…/subject/…, through its pool's principalSet
// (every identity in the pool), as IAM matches role bindings.
func grantedTo(members map[string]bool, principal string) bool {
	if members[principal] {
		return true
	}
	rest, ok := strings.CutPrefix(principal, "principal:"+iamHost)
	if !ok {
		return false
	}
	pool, _, ok := strings.Cut(rest, "/subject/")
	return ok && members["principalSet:"+iamHost+pool+"/*"]
}

// STS error texts observed from Google (protocol.md §7.1).
const (
	descBadAudience = `Invalid value for "audience". This value should be the full resource name of the Identity Provider. ` +
		"See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for the list of possible formats."
	descBadTarget = `The target service indicated by the "audience" parameters is invalid. ` +
		"This might either be because the pool or provider is disabled or deleted or because it doesn't exist."
)

// parseAudience splits an STS audience into a provider name, or fails with
// Google's invalid_request text.
func parseAudience(aud string) (string, bool) {
	name, ok := strings.CutPrefix(aud, iamHost)
	if !ok {
		return "", false
	}
	parts := strings.Split(name, "/")
	switch {
	case len(parts) == 8 && parts[0] == "projects" && isDigits(parts[1]) && parts[2] == "locations" &&
		parts[3] == "global" && parts[4] == "workloadIdentityPools" && parts[5] != "" && parts[6] == "providers" && parts[7] != "":
		return name, true
	case len(parts) == 6 && parts[0] == "locations" && parts[1] == "global" && parts[2] == "workforcePools" &&
		parts[3] != "" && parts[4] == "providers" && parts[5] != "":
		return name, true
	}
	return "", false
}

// stsFederate exchanges an external subject token (AWS or OIDC) for an
// access token of the federated principal.
func (s *Server) stsFederate(w http.ResponseWriter, r *http.Request, tokenType string) {
	form := r.PostForm
	p, err := s.federationProvider(form.Get("audience"), tokenType)
	if err != nil {
		s.writeSTSRefusal(w, r, err)
		return
	}
	clientID, ok := s.stsClient(w, r, false)
	if !ok {
		return
	}
	if err := checkUserProject(form.Get("options"), &p, clientID); err != nil {
		s.writeSTSRefusal(w, r, err)
		return
	}
	subject, err := s.federatedSubject(r, tokenType, &p)
	if err != nil {
		s.writeSTSRefusal(w, r, err)
		return
	}
	scopes := expandScopes(form.Get("scope"))
	if len(scopes) == 0 {
		scopes = []string{scopeCloudPlatform} // [?] what STS grants without a scope
	}
	principal := p.Principal(subject)
	tok := "ya29.d." + randomToken(96)
	s.storeAccess(tok, &accessGrant{
		clientID: clientID, subject: principal, email: principal,
		scopes: scopes, expiry: s.now().Add(s.lifetime),
	})
	s.log.Debug("fakegoogle: issued federated access token", "principal", principal, "scopes", scopes)
	writeCompactJSON(w, http.StatusOK, stsTokenResponse{
		AccessToken:     tok,
		IssuedTokenType: tokenTypeAccessToken,
		TokenType:       "Bearer",
		ExpiresIn:       s.expiresIn(),
	})
}

// writeSTSRefusal writes a *refusal as STS's error answer.
func (s *Server) writeSTSRefusal(w http.ResponseWriter, r *http.Request, err error) {
	var ref *refusal
	if !errors.As(err, &ref) {
		ref = &refusal{code: "invalid_request", desc: err.Error()}
	}
	s.stsError(w, r, ref.code, ref.desc)
}

// federationProvider returns the enabled provider audience names, for a
// subject token type the fake models.
func (s *Server) federationProvider(audience, tokenType string) (IdentityProvider, error) {
	if tokenType == subjectTokenTypeSAML2 || tokenType == subjectTokenTypeMTLS {
		s.log.Warn("fakegoogle: unmodelled STS subject token type", "subject_token_type", tokenType)
		return IdentityProvider{}, oauthRefusal("invalid_request", "Unsupported subject_token_type: "+tokenType+" (the fake models the AWS, jwt and id_token types)")
	}
	name, ok := parseAudience(audience)
	if !ok {
		return IdentityProvider{}, oauthRefusal("invalid_request", descBadAudience)
	}
	s.mu.Lock()
	var p IdentityProvider
	pp, known := s.fed.providers[name]
	if known {
		p = *pp
	}
	s.mu.Unlock()
	if !known || p.Disabled {
		return IdentityProvider{}, oauthRefusal("invalid_target", descBadTarget)
	}
	return p, nil
}

// checkUserProject checks options' userProject: a workforce pool needs it
// or client authentication; a workload pool takes none.
func checkUserProject(options string, p *IdentityProvider, clientID string) error {
	var userProject string
	if options != "" {
		var o struct {
			UserProject string `json:"userProject"`
		}
		if err := decodeSTSOptions(options, &o); err != nil {
			return oauthRefusal("invalid_request", `Invalid value for "options": want a JSON object, raw or percent-encoded: `+err.Error())
		}
		userProject = o.UserProject
	}
	switch {
	case p.Workforce && clientID == "" && userProject == "":
		// [?] Google's text.
		return oauthRefusal("invalid_request", `A workforce pool exchange needs either client authentication (client_id and client_secret) or "userProject" in "options"`)
	case !p.Workforce && userProject != "":
		// [?] Google's text.
		return oauthRefusal("invalid_request", `"userProject" is only allowed for workforce pools`)
	}
	return nil
}

// federatedSubject verifies the subject token with p, which must be of
// the token's kind, and returns the federated subject.
func (s *Server) federatedSubject(r *http.Request, tokenType string, p *IdentityProvider) (string, error) {
	want := ProviderOIDC // jwt, id_token
	if tokenType == SubjectTokenTypeAWS {
		want = ProviderAWS
	}
	if p.Type != want {
		return "", oauthRefusal("invalid_request", fmt.Sprintf("The subject_token_type %s does not fit provider %s, which is of type %s", tokenType, p.Audience(), p.Type))
	}
	form := r.PostForm
	var subject string
	var err error
	if want == ProviderAWS {
		subject, err = s.verifyAWSSubjectToken(form.Get("subject_token"), p, form.Get("audience"))
	} else {
		subject, err = s.verifyOIDCSubjectToken(r, strings.TrimSpace(form.Get("subject_token")), p)
	}
	if err != nil {
		return "", oauthRefusal("invalid_grant", err.Error())
	}
	return subject, nil
}

// decodeSTSOptions decodes options as raw JSON (Go, Node) or, failing that,
// as percent-encoded JSON (Python).
func decodeSTSOptions(raw string, v any) error {
	err := json.Unmarshal([]byte(raw), v)
	if err == nil {
		return nil
	}
	unescaped, uerr := url.QueryUnescape(raw)
	if uerr != nil || unescaped == raw {
		return err
	}
	return json.Unmarshal([]byte(unescaped), v)
}

// workforceGrant is what a workforce refresh token stands for.
type workforceGrant struct {
	ClientID string   `json:"client_id"`
	Provider string   `json:"provider"` // Name()
	Subject  string   `json:"subject"`
	Scopes   []string `json:"scopes"`
}

// IssueWorkforceRefreshToken mints a refresh token for subject, a user of
// the workforce provider whose Audience is audience, as if they had signed
// in with `gcloud auth login --login-config` through the OAuth client
// clientID. External_account_authorized_user files carry it
// (ExternalAccountAuthorizedUserJSON).
func (s *Server) IssueWorkforceRefreshToken(clientID, audience, subject string) (string, error) {
	fail := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("fakegoogle: issue workforce refresh token: "+format, args...)
	}
	if subject == "" {
		return fail("empty subject")
	}
	name := strings.TrimPrefix(audience, iamHost)
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.fed.providers[name]
	switch {
	case !ok:
		return fail("no identity provider %q", audience)
	case !p.Workforce:
		return fail("%q is not a workforce pool provider", audience)
	}
	if _, ok := s.clients[clientID]; !ok {
		return fail("unknown OAuth client %q; call AddOAuthClient first", clientID)
	}
	tok := "1//fake-wf-" + randomToken(48)
	s.fed.wfRefresh[tok] = &workforceGrant{ClientID: clientID, Provider: name, Subject: subject, Scopes: []string{scopeCloudPlatform}}
	return tok, nil
}

// handleSTSOAuthToken serves POST /v1/oauthtoken, STS's workforce refresh
// (protocol.md §7.3): the refresh_token grant with HTTP Basic client
// authentication.
func (s *Server) handleSTSOAuthToken(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethods(w, r, http.MethodPost) || !s.parseForm(w, r) {
		return
	}
	form := r.PostForm
	switch gt := form.Get("grant_type"); gt {
	case grantRefreshToken:
	case "authorization_code":
		s.log.Warn("fakegoogle: unmodelled STS grant", "grant_type", gt)
		s.stsError(w, r, "invalid_request", "Unsupported grant_type authorization_code at /v1/oauthtoken (not modelled by the fake)")
		return
	default:
		s.stsError(w, r, "unsupported_grant_type", fmt.Sprintf("Invalid value for \"grant_type\": %q", gt))
		return
	}
	id, ok := s.stsClient(w, r, true)
	if !ok {
		return
	}
	s.mu.Lock()
	g, okToken := s.fed.wfRefresh[form.Get("refresh_token")]
	var grant workforceGrant
	var p IdentityProvider
	okProvider := false
	if okToken {
		grant = *g
		if pp, ok := s.fed.providers[g.Provider]; ok {
			p, okProvider = *pp, true
		}
	}
	s.mu.Unlock()
	switch {
	case !okToken || grant.ClientID != id:
		s.stsError(w, r, "invalid_grant", descRefreshRevoked)
		return
	case !okProvider || p.Disabled:
		s.stsError(w, r, "invalid_target", descBadTarget)
		return
	}
	principal := p.Principal(grant.Subject)
	tok := "ya29.d." + randomToken(96)
	s.storeAccess(tok, &accessGrant{
		clientID: id, subject: principal, email: principal,
		scopes: slices.Clone(grant.Scopes), expiry: s.now().Add(s.lifetime),
	})
	writeCompactJSON(w, http.StatusOK, struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}{tok, s.expiresIn(), "Bearer"})
}

// stsIntrospection is STS's /v1/introspect answer (RFC 7662) for an active
// token, in the field names of IntrospectTokenResponse.
type stsIntrospection struct {
	Active   bool   `json:"active"`
	ClientID string `json:"client_id,omitempty"`
	Exp      int64  `json:"exp,omitempty"`
	Scope    string `json:"scope,omitempty"`
	Sub      string `json:"sub,omitempty"`
	Username string `json:"username,omitempty"`
}

// handleSTSIntrospect serves POST /v1/introspect, STS's token introspection
// (RFC 7662), which gcloud calls with HTTP Basic client authentication for
// the account name of a non-impersonating external_account and which
// external_account_authorized_user files name as token_info_url. An unknown
// or expired token is {"active":false}. [?] Which tokens Google introspects
// beyond its federated ones: the fake answers for any of its access tokens.
func (s *Server) handleSTSIntrospect(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethods(w, r, http.MethodPost) || !s.parseForm(w, r) {
		return
	}
	if _, ok := s.stsClient(w, r, true); !ok {
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		s.stsError(w, r, "invalid_request", `Missing "token"`)
		return
	}
	a, ok := s.lookupAccess(tok)
	if !ok {
		writeCompactJSON(w, http.StatusOK, stsIntrospection{})
		return
	}
	writeCompactJSON(w, http.StatusOK, stsIntrospection{
		Active: true, ClientID: a.clientID, Exp: a.expiry.Unix(),
		Scope: strings.Join(a.scopes, " "), Sub: a.subject, Username: a.email,
	})
}

// ExternalAccountConfig describes an external_account file for
// ExternalAccountJSON. Exactly one source must be chosen: AWS,
// SubjectTokenFile or SubjectTokenURL.
type ExternalAccountConfig struct {
	// Audience is the provider. Optional; default DefaultAWSAudience for
	// AWS, else DefaultOIDCAudience.
	Audience string
	// AWS makes an AWS source whose instance-metadata URLs point at the
	// fake (they are used only when AWS_ACCESS_KEY_ID is not set).
	AWS bool
	// IMDSv2 adds imdsv2_session_token_url (AWS only).
	IMDSv2 bool
	// SubjectTokenFile is a file holding an OIDC token (text format).
	SubjectTokenFile string
	// SubjectTokenURL is a URL answering with an OIDC token (text format),
	// requested with SubjectTokenHeaders.
	SubjectTokenURL     string
	SubjectTokenHeaders map[string]string
	// ServiceAccount, if set, is impersonated after the exchange, with
	// access tokens lasting TokenLifetimeSeconds (optional).
	ServiceAccount       string
	TokenLifetimeSeconds int
}

// externalAccountFile is the fake's own encoding of an external_account
// file, in the field order gcloud writes.
type externalAccountFile struct {
	Type                           string                 `json:"type"`
	Audience                       string                 `json:"audience"`
	SubjectTokenType               string                 `json:"subject_token_type"`
	TokenURL                       string                 `json:"token_url"`
	CredentialSource               map[string]any         `json:"credential_source"`
	ServiceAccountImpersonationURL string                 `json:"service_account_impersonation_url,omitempty"`
	ServiceAccountImpersonation    *impersonationSettings `json:"service_account_impersonation,omitempty"`
	UniverseDomain                 string                 `json:"universe_domain"`
}

type impersonationSettings struct {
	TokenLifetimeSeconds int `json:"token_lifetime_seconds"`
}

// ExternalAccountJSON returns an external_account credential file whose
// STS, impersonation and metadata URLs point at the fake.
func (s *Server) ExternalAccountJSON(c ExternalAccountConfig) ([]byte, error) {
	base := s.BaseURL()
	if base == "" {
		return nil, fmt.Errorf("fakegoogle: external_account file: base URL not set; call SetBaseURL or use Start")
	}
	n := 0
	for _, set := range []bool{c.AWS, c.SubjectTokenFile != "", c.SubjectTokenURL != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("fakegoogle: external_account file: choose exactly one of AWS, SubjectTokenFile and SubjectTokenURL")
	}
	f := externalAccountFile{
		Type:             "external_account",
		Audience:         c.Audience,
		SubjectTokenType: SubjectTokenTypeJWT,
		TokenURL:         s.STSURL(),
		UniverseDomain:   s.universe,
	}
	switch {
	case c.AWS:
		if f.Audience == "" {
			f.Audience = DefaultAWSAudience
		}
		f.SubjectTokenType = SubjectTokenTypeAWS
		f.CredentialSource = map[string]any{
			"environment_id":                 "aws1",
			"region_url":                     base + imdsRegionPath,
			"url":                            base + imdsCredentialsPath,
			"regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
		}
		if c.IMDSv2 {
			f.CredentialSource["imdsv2_session_token_url"] = base + imdsTokenPath
		}
	case c.SubjectTokenFile != "":
		f.CredentialSource = map[string]any{"file": c.SubjectTokenFile, "format": map[string]string{"type": "text"}}
	default:
		f.CredentialSource = map[string]any{"url": c.SubjectTokenURL, "format": map[string]string{"type": "text"}}
		if len(c.SubjectTokenHeaders) > 0 {
			f.CredentialSource["headers"] = c.SubjectTokenHeaders
		}
	}
	if f.Audience == "" {
		f.Audience = DefaultOIDCAudience
	}
	if c.ServiceAccount != "" {
		if _, ok := s.ServiceAccount(c.ServiceAccount); !ok {
			return nil, fmt.Errorf("fakegoogle: external_account file: no service account %q", c.ServiceAccount)
		}
		f.ServiceAccountImpersonationURL = base + "/v1/" + saResourcePrefix + c.ServiceAccount + ":generateAccessToken"
		if c.TokenLifetimeSeconds > 0 {
			f.ServiceAccountImpersonation = &impersonationSettings{c.TokenLifetimeSeconds}
		}
	}
	return marshalFile(f)
}

// ExternalAccountAuthorizedUserJSON returns an
// external_account_authorized_user file (gcloud's workforce login) for a
// refresh token from IssueWorkforceRefreshToken.
func (s *Server) ExternalAccountAuthorizedUserJSON(refreshToken string) ([]byte, error) {
	base := s.BaseURL()
	if base == "" {
		return nil, fmt.Errorf("fakegoogle: external_account_authorized_user file: base URL not set; call SetBaseURL or use Start")
	}
	s.mu.Lock()
	g, ok := s.fed.wfRefresh[refreshToken]
	var grant workforceGrant
	var secret string
	if ok {
		grant, secret = *g, s.clients[g.ClientID]
	}
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("fakegoogle: external_account_authorized_user file: unknown workforce refresh token")
	}
	return marshalFile(struct {
		Type           string `json:"type"`
		Audience       string `json:"audience"`
		RefreshToken   string `json:"refresh_token"`
		TokenURL       string `json:"token_url"`
		TokenInfoURL   string `json:"token_info_url"`
		ClientID       string `json:"client_id"`
		ClientSecret   string `json:"client_secret"`
		UniverseDomain string `json:"universe_domain"`
	}{
		Type: "external_account_authorized_user", Audience: iamHost + grant.Provider,
		RefreshToken: refreshToken, TokenURL: base + "/v1/oauthtoken", TokenInfoURL: base + "/v1/introspect",
		ClientID: grant.ClientID, ClientSecret: secret, UniverseDomain: s.universe,
	})
}

// stsClient checks STS's HTTP Basic client authentication and returns the
// client id ("" when none was sent and it is optional). On failure it has
// written Google's invalid_client error and returns false.
func (s *Server) stsClient(w http.ResponseWriter, r *http.Request, required bool) (string, bool) {
	if r.Header.Get("Authorization") == "" {
		if required {
			s.writeOAuthError(w, r, http.StatusUnauthorized, "invalid_client", r.URL.Path+" needs HTTP Basic client authentication")
			return "", false
		}
		return "", true
	}
	id, secret, err := clientCredentials(r)
	if err != nil {
		s.writeOAuthError(w, r, http.StatusUnauthorized, "invalid_client", err.Error())
		return "", false
	}
	s.mu.Lock()
	want, ok := s.clients[id]
	s.mu.Unlock()
	if !ok || want != secret {
		s.writeOAuthError(w, r, http.StatusUnauthorized, "invalid_client", descBadSecret)
		return "", false
	}
	return id, true
}
