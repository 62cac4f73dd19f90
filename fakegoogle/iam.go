package fakegoogle

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// DefaultTargetServiceAccount is a second service account every new Server
// has, for zero-setup impersonation demos: DefaultServiceAccount and
// DefaultUser hold the Token Creator role on it.
const DefaultTargetServiceAccount = "demo-target@fake-project.iam.gserviceaccount.com"

// The IAM model is deliberately small: the one role that matters for
// tokens, roles/iam.serviceAccountTokenCreator, granted on a service account
// to a member (a user's or a service account's email); and the two
// per-account policies Google applies when minting tokens. Everything is
// keyed by the account, so it lives in serviceAccount and is persisted with
// it.

// findSALocked returns the service account named by email or unique id.
// s.mu must be held.
func (s *Server) findSALocked(id string) *serviceAccount {
	if sa, ok := s.sas[id]; ok {
		return sa
	}
	if strings.Contains(id, "@") {
		return nil
	}
	for _, sa := range s.sas {
		if sa.info.UniqueID == id {
			return sa
		}
	}
	return nil
}

// normalizeMember accepts a bare email or an IAM member string
// ("user:x", "serviceAccount:x") and returns the email.
func normalizeMember(member string) (string, error) {
	email := member
	for _, p := range []string{"user:", "serviceAccount:"} {
		if rest, ok := strings.CutPrefix(member, p); ok {
			email = rest
			break
		}
	}
	if !strings.Contains(email, "@") || strings.ContainsAny(email, ": \t\n") {
		return "", fmt.Errorf("member %q is not an email address (or user:EMAIL, serviceAccount:EMAIL)", member)
	}
	return email, nil
}

// GrantTokenCreator grants member (the email of a user or service account)
// roles/iam.serviceAccountTokenCreator on serviceAccount (an email or unique
// id). The role carries the permissions the IAM Credentials API checks:
// iam.serviceAccounts.getAccessToken, getOpenIdToken, signJwt, signBlob and
// implicitDelegation. As at Google, a service account has no implicit role
// on itself: impersonating or signing as yourself needs the grant too.
// Members need not be registered, like at Google where a member may live in
// another project.
func (s *Server) GrantTokenCreator(member, serviceAccount string) error {
	email, err := normalizeMember(member)
	if err != nil {
		return fmt.Errorf("fakegoogle: grant Token Creator on %q: %w", serviceAccount, err)
	}
	return s.grantTokenCreator(member, email, serviceAccount)
}

// grantTokenCreator records principal (a normalized member: an email or a
// federated principal) as Token Creator on serviceAccount; member is the
// caller's spelling, for errors.
func (s *Server) grantTokenCreator(member, principal, serviceAccount string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa := s.findSALocked(serviceAccount)
	if sa == nil {
		return fmt.Errorf("fakegoogle: grant Token Creator to %q: no service account %q", member, serviceAccount)
	}
	if sa.tokenCreators == nil {
		sa.tokenCreators = map[string]bool{}
	}
	sa.tokenCreators[principal] = true
	return nil
}

// RevokeTokenCreator removes a grant made by GrantTokenCreator (or
// GrantFederatedTokenCreator, for a principal:// or principalSet://
// member). Like
// gcloud's remove-iam-policy-binding, it fails if there is no such binding.
func (s *Server) RevokeTokenCreator(member, serviceAccount string) error {
	email, err := normalizeMember(member)
	if checkFederatedMember(member) == nil {
		email, err = member, nil // granted by GrantFederatedTokenCreator
	}
	if err != nil {
		return fmt.Errorf("fakegoogle: revoke Token Creator on %q: %w", serviceAccount, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sa := s.findSALocked(serviceAccount)
	if sa == nil {
		return fmt.Errorf("fakegoogle: revoke Token Creator from %q: no service account %q", member, serviceAccount)
	}
	if !sa.tokenCreators[email] {
		return fmt.Errorf("fakegoogle: revoke Token Creator from %q: no such binding on %q", member, serviceAccount)
	}
	delete(sa.tokenCreators, email)
	return nil
}

// AllowLifetimeExtension puts serviceAccount on (or takes it off) the
// allowed list of the org policy constraint
// constraints/iam.allowServiceAccountCredentialLifetimeExtension: only listed
// accounts get generateAccessToken lifetimes over 3600s (up to 43200s).
func (s *Server) AllowLifetimeExtension(serviceAccount string, allowed bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa := s.findSALocked(serviceAccount)
	if sa == nil {
		return fmt.Errorf("fakegoogle: allow lifetime extension: no service account %q", serviceAccount)
	}
	sa.lifetimeExtension = allowed
	return nil
}

// AllowDomainWideDelegation sets the scopes serviceAccount may request for
// another user, like the Workspace admin console's domain-wide delegation
// list (keyed by the account's client id there). A jwt-bearer assertion
// with a sub other than its iss then gets a token for that user (a
// registered one: see AddUser) if every requested scope is in scopes.
// Aliases ("email", "profile") are expanded. Nil or empty scopes take the
// account off the list.
func (s *Server) AllowDomainWideDelegation(serviceAccount string, scopes []string) error {
	expanded := expandScopes(strings.Join(scopes, " "))
	s.mu.Lock()
	defer s.mu.Unlock()
	sa := s.findSALocked(serviceAccount)
	if sa == nil {
		return fmt.Errorf("fakegoogle: allow domain-wide delegation: no service account %q", serviceAccount)
	}
	sa.dwdScopes = expanded
	return nil
}

// dwdAllowed reports whether the account may get a token for another user
// with scopes.
func (s *Server) dwdAllowed(email string, scopes []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa := s.sas[email]
	if sa == nil || len(sa.dwdScopes) == 0 {
		return false
	}
	for _, sc := range scopes {
		if !slices.Contains(sa.dwdScopes, sc) {
			return false
		}
	}
	return true
}

// findUser returns a registered user by email or subject id, the two forms
// Google accepts in a DWD sub.
func (s *Server) findUser(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[id]; ok {
		return *u, true
	}
	for _, u := range s.users {
		if u.Subject == id {
			return *u, true
		}
	}
	return User{}, false
}

// addDefaultTarget registers DefaultTargetServiceAccount with its demo
// grants.
func (s *Server) addDefaultTarget() error {
	if _, err := s.AddServiceAccount(DefaultTargetServiceAccount); err != nil {
		return err
	}
	for _, m := range []string{DefaultServiceAccount, DefaultUser} {
		if err := s.GrantTokenCreator(m, DefaultTargetServiceAccount); err != nil {
			return err
		}
	}
	return nil
}

// IAMCredentialsURL returns the base URL that takes the place of
// https://iamcredentials.googleapis.com: clients append
// "/v1/projects/-/serviceAccounts/{email}:generateAccessToken" (or
// :generateIdToken, :signJwt, :signBlob). It is BaseURL(), because the fake
// serves every host on one base; "" until SetBaseURL.
func (s *Server) IAMCredentialsURL() string {
	return s.BaseURL()
}

// impersonatedFile is gcloud's impersonated ADC file; gcloud writes the
// keys sorted and always writes delegates.
type impersonatedFile struct {
	Delegates                      []string        `json:"delegates"`
	ServiceAccountImpersonationURL string          `json:"service_account_impersonation_url"`
	SourceCredentials              json.RawMessage `json:"source_credentials"`
	Type                           string          `json:"type"`
}

// ImpersonatedServiceAccountJSON returns an "impersonated_service_account"
// credential file that impersonates target (through delegates, in order)
// with sourceJSON as the source credential: a service_account or
// authorized_user file, e.g. from ServiceAccountKeyJSON or
// AuthorizedUserJSON. Its service_account_impersonation_url points at the
// fake. target and delegates must be registered service accounts (email or
// unique id; delegates may also be "projects/-/serviceAccounts/X"). The
// grants that make the chain work are not checked here: a file for a
// broken chain is useful for testing the 403.
func (s *Server) ImpersonatedServiceAccountJSON(sourceJSON []byte, target string, delegates []string) ([]byte, error) {
	fail := func(format string, args ...any) ([]byte, error) {
		return nil, fmt.Errorf("fakegoogle: impersonated_service_account file for %q: %s", target, fmt.Sprintf(format, args...))
	}
	base := s.BaseURL()
	if base == "" {
		return fail("base URL not set; call SetBaseURL or use Start")
	}
	var src map[string]json.RawMessage
	if err := json.Unmarshal(sourceJSON, &src); err != nil {
		return fail("source credentials are not a JSON object: %v", err)
	}
	var typ string
	if err := json.Unmarshal(src["type"], &typ); err != nil || typ == "" {
		return fail("source credentials have no \"type\"")
	}
	if typ == "impersonated_service_account" {
		// Go accepts nesting, Python does not; keep the files portable.
		return fail("source credentials must not be impersonated_service_account themselves")
	}
	full := []string{}
	s.mu.Lock()
	missing := ""
	if s.findSALocked(target) == nil {
		missing = target
	}
	for _, d := range delegates {
		id := strings.TrimPrefix(d, saResourcePrefix)
		if s.findSALocked(id) == nil && missing == "" {
			missing = d
		}
		full = append(full, saResourcePrefix+id)
	}
	s.mu.Unlock()
	if missing != "" {
		return fail("no service account %q", missing)
	}
	return marshalFile(impersonatedFile{
		Delegates:                      full,
		ServiceAccountImpersonationURL: base + "/v1/" + saResourcePrefix + target + ":generateAccessToken",
		SourceCredentials:              json.RawMessage(sourceJSON),
		Type:                           "impersonated_service_account",
	})
}

// saResourcePrefix is the resource name prefix of a service account in the
// IAM Credentials API; "-" is the required project wildcard.
const saResourcePrefix = "projects/-/serviceAccounts/"

// tokenCreatorsOf returns the sorted members holding Token Creator on sa.
func tokenCreatorsOf(sa *serviceAccount) []string {
	return slices.Sorted(maps.Keys(sa.tokenCreators))
}
