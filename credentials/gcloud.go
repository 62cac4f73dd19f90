package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/gcptoken/gcptoken/internal/credsfile"
	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/gcloudconfig"
)

// gcloud's signed-in accounts (`gcloud auth login`, `gcloud auth
// activate-service-account`) as a credential source: step 4 of Detect, or
// the only one with Options.GcloudAccount. The account is chosen and its
// stored credential turned into Credentials as gcloud does it
// (googlecloudsdk/core/credentials/store.py Load and creds.py
// FromJsonGoogleAuth); the stored JSON then goes through the same parser
// as a credential file, so a user account is refreshed with its refresh
// token and a service account signs with its key, exactly as an
// authorized_user or service_account file would be. Tokens are never
// written back: gcloud's access_tokens.db is neither read nor written.

// GcloudStore reads gcloud's credential store, credentials.db in gcloud's
// configuration directory: an SQLite database. This package does not read
// SQLite itself, so that programs that never use gcloud's accounts do not
// link a database engine; the module
// github.com/gcptoken/gcptoken/credentials/gcloudstore implements it.
type GcloudStore interface {
	// GcloudCredentials returns every row of the credentials table of the
	// database at path, in gcloud's order (rowid). It must not change
	// the file or create any (no journal, no WAL), and must wait a while
	// for a lock that a running gcloud holds. A database that does not
	// exist is an error matching fs.ErrNotExist.
	GcloudCredentials(ctx context.Context, path string) ([]GcloudCredential, error)
}

// GcloudCredential is one row of gcloud's credentials.db.
type GcloudCredential struct {
	// AccountID is the account as gcloud stores it: its email, followed
	// by "#" and the universe domain outside googleapis.com.
	AccountID string
	// JSON is the stored credential. It holds secrets.
	JSON []byte
}

// gcloudSelection is the account the gcloud step would use, or the
// credential file that gcloud uses instead of any account.
type gcloudSelection struct {
	cfg      *gcloudconfig.Config
	account  string
	from     string // where account came from, for Steps
	universe string // core/universe_domain, else DefaultUniverseDomain
	db       string // credentials.db

	// override is auth/credential_file_override: when set, gcloud loads
	// its credentials from that file and ignores the account and the
	// store (googlecloudsdk/core/credentials/store.py _Load).
	override     string
	overrideFrom string // where override came from
}

// name is what the selection is called in error messages.
func (sel *gcloudSelection) name() string {
	if sel.override != "" {
		return sel.source()
	}
	return fmt.Sprintf("gcloud account %q in %s", sel.account, sel.db)
}

// parseSource names the credential to the parser, as it names a file.
func (sel *gcloudSelection) parseSource() string {
	if sel.override != "" {
		return sel.override
	}
	return "gcloud account " + sel.account
}

// source is Credentials.Source of the selection.
func (sel *gcloudSelection) source() string {
	if sel.override != "" {
		return fmt.Sprintf("gcloud's credential file override %s (%s)", sel.override, sel.overrideFrom)
	}
	return fmt.Sprintf("gcloud account %q (%s; %s)", sel.account, sel.from, sel.db)
}

// accountID is account as gcloud's store keys it in universe.
func accountID(account, universe string) string {
	if universe == DefaultUniverseDomain {
		return account
	}
	return account + "#" + universe
}

// selectGcloudAccount reads gcloud's configuration and names the account
// to use. When there is none, sel is nil and why says why.
func selectGcloudAccount(ctx context.Context, s *settings) (sel *gcloudSelection, why string, err error) {
	dir, why := gcloudconfig.Dir(s.Getenv, s.HomeDir)
	if dir == "" {
		return nil, why, nil
	}
	cfg, err := gcloudconfig.Load(ctx, dir, s.Getenv)
	if err != nil {
		return nil, "", invalid("gcloud's configuration", err)
	}
	sel = &gcloudSelection{cfg: cfg, db: filepath.Join(dir, gcloudconfig.CredentialsDB), universe: DefaultUniverseDomain}
	if u, from := cfg.Get("core", "universe_domain"); u != "" {
		if err := checkUniverse(u); err != nil {
			return nil, "", invalid(from, err)
		}
		sel.universe = u
	}
	if f, from := cfg.Get("auth", "credential_file_override"); f != "" {
		// It wins over the active and a named account alike, as in gcloud.
		sel.override, sel.overrideFrom = f, from
		return sel, "", nil
	}
	sel.account, sel.from = s.GcloudAccount, "named explicitly"
	if sel.account == "" {
		sel.account, sel.from = cfg.Get("core", "account")
	}
	if sel.account == "" {
		return nil, fmt.Sprintf("no active account in %s (configuration %q): `gcloud auth login` or `gcloud config set account` sets one", dir, cfg.Name), nil
	}
	return sel, "", nil
}

// gcloud is step 4 of Detect. When it has nothing to use (and no account
// was named explicitly) it records why and returns nil, nil.
func (d *detection) gcloud(ctx context.Context, s *settings) (*Credentials, error) {
	explicit := s.GcloudAccount != ""
	if s.GcloudStore == nil {
		d.skip("not searched: no Options.GcloudStore (module github.com/gcptoken/gcptoken/credentials/gcloudstore reads gcloud's accounts)")
		return nil, nil
	}
	sel, why, err := selectGcloudAccount(ctx, s)
	switch {
	case err != nil:
		return nil, err
	case sel == nil && explicit:
		return nil, invalid(fmt.Sprintf("credentials: gcloud account %q", s.GcloudAccount), errors.New(why))
	case sel == nil:
		d.skip(why)
		return nil, nil
	case sel.override != "":
		return d.gcloudOverride(ctx, sel, s)
	}
	rows, err := s.GcloudStore.GcloudCredentials(ctx, sel.db)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		d.skip(fmt.Sprintf("account %s (%s): %s does not exist", sel.account, sel.from, sel.db))
		return nil, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, invalid(fmt.Sprintf("credentials: gcloud account %q", sel.account), fmt.Errorf(
			"%s does not exist: no account is signed in to gcloud there", sel.db))
	case err != nil:
		return nil, fmt.Errorf("credentials: gcloud account %q: read %s: %w", sel.account, sel.db, err)
	}
	stored, why, err := sel.find(rows)
	switch {
	case err != nil:
		return nil, err
	case stored == nil && explicit:
		return nil, invalid(fmt.Sprintf("credentials: gcloud account %q", sel.account), fmt.Errorf(
			"not in %s%s: `gcloud auth login %s` signs it in", sel.db, listAccounts(rows), sel.account))
	case stored == nil:
		d.skip(why)
		return nil, nil
	case storedType(stored.JSON) == gcloudTypeGCE && !explicit:
		d.skip(fmt.Sprintf("account %s (%s) is the metadata server's (stored as type gce)", sel.account, sel.from))
		return nil, nil
	}
	c, notes, err := sel.load(stored, s)
	if err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("account %s (%s; %s)", sel.account, sel.from, sel.db)
	if len(notes) > 0 {
		detail += "; " + strings.Join(notes, "; ")
	}
	return d.use(c, nil, detail)
}

// gcloudOverride loads gcloud's auth/credential_file_override as gcloud
// does: a credential file of any type, with gcloud's token endpoint,
// project, impersonation and quota project properties applied.
func (d *detection) gcloudOverride(ctx context.Context, sel *gcloudSelection, s *settings) (*Credentials, error) {
	data, err := readFile(ctx, sel.override)
	if err != nil {
		return nil, invalid("credentials: "+sel.name(), err)
	}
	c, notes, err := sel.load(&GcloudCredential{JSON: data}, s)
	if err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("credential file %s (%s), which gcloud uses instead of any account", sel.override, sel.overrideFrom)
	if len(notes) > 0 {
		detail += "; " + strings.Join(notes, "; ")
	}
	return d.use(c, nil, detail)
}

// listAccounts names the accounts of rows for an error message.
func listAccounts(rows []GcloudCredential) string {
	if len(rows) == 0 {
		return " (it holds no account)"
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.AccountID
	}
	return " (it holds " + strings.Join(ids, ", ") + ")"
}

// find picks the stored credential of the selected account in its
// universe, as gcloud's SqliteCredentialStore.Load does.
func (sel *gcloudSelection) find(rows []GcloudCredential) (stored *GcloudCredential, why string, err error) {
	want := accountID(sel.account, sel.universe)
	var elsewhere []string
	for i, r := range rows {
		switch {
		case r.AccountID == want:
			return &rows[i], "", nil
		case r.AccountID == sel.account:
			elsewhere = append(elsewhere, DefaultUniverseDomain)
		case strings.HasPrefix(r.AccountID, sel.account+"#"):
			elsewhere = append(elsewhere, r.AccountID[len(sel.account)+1:])
		}
	}
	if len(elsewhere) > 0 {
		return nil, "", invalid(fmt.Sprintf("gcloud account %q", sel.account), fmt.Errorf(
			"has credentials in universe %s, not in %s (gcloud's core/universe_domain)", strings.Join(elsewhere, ", "), sel.universe))
	}
	// On Compute Engine gcloud's account is often the instance's service
	// account, which it serves from the metadata server, not the store.
	return nil, fmt.Sprintf("account %s (%s) has no credentials in %s (gcloud would ask the metadata server for it)", sel.account, sel.from, sel.db), nil
}

// load turns the stored credential into Credentials with gcloud's
// properties applied: the token endpoint, the project, impersonation and
// the quota project. notes describe what the properties changed.
func (sel *gcloudSelection) load(stored *GcloudCredential, s *settings) (c *Credentials, notes []string, err error) {
	name := sel.name()
	typ := storedType(stored.JSON)
	switch typ {
	case gcloudTypeGCE:
		return nil, nil, invalid(name, errors.New("is the metadata server's account (gcloud stores it as type gce): name no account to use the metadata server"))
	case gcloudTypeP12:
		return nil, nil, invalid(name, errors.New("is a P12 service-account key, which gcptoken does not read: activate a JSON key instead (`gcloud auth activate-service-account --key-file KEY.json`)"))
	}
	ps := *s
	if host, from := sel.cfg.Get("auth", "token_host"); host != "" && s.TokenURL == "" && (typ == TypeServiceAccount || typ == TypeAuthorizedUser) {
		if err := endpoints.CheckURL(host); err != nil {
			return nil, nil, invalid(from, err)
		}
		// gcloud's GetEffectiveTokenUri: the property beats the stored token_uri.
		ps.TokenURL = host
		notes = append(notes, "token endpoint "+host+" ("+from+")")
	}
	c, err = parseCredential(stored.JSON, sel.parseSource(), sel.override, &ps, 0)
	if err != nil {
		return nil, nil, invalid(name, err)
	}
	c.Source = sel.source()
	if sel.override == "" {
		if au, ok := c.impl.(*authorizedUser); ok {
			au.account = sel.account // gcloud's stored user credentials name no account
		}
		if c.Principal == "" {
			c.Principal = sel.account
		}
	}
	if p, _ := sel.cfg.Get("core", "project"); p != "" {
		c.ProjectID = p
	}
	if p := s.Getenv(envProject); p != "" {
		c.ProjectID = p
	}
	if c, notes, err = sel.impersonate(c, s, notes); err != nil {
		return nil, nil, err
	}
	sel.quotaProject(c, s)
	return c, notes, nil
}

// impersonate applies gcloud's auth/impersonate_service_account ("A,B,C":
// delegates A and B, target C), unless Options.GcloudNoImpersonation.
func (sel *gcloudSelection) impersonate(c *Credentials, s *settings, notes []string) (*Credentials, []string, error) {
	chain, from := sel.cfg.Get("auth", "impersonate_service_account")
	if chain == "" || s.GcloudNoImpersonation {
		return c, notes, nil
	}
	var accounts []string
	for _, a := range strings.Split(chain, ",") {
		if a = strings.TrimSpace(a); a == "" {
			return nil, nil, invalid(from, fmt.Errorf("%q has an empty service account in the list", chain))
		}
		accounts = append(accounts, a)
	}
	imp, err := Impersonate(c, &ImpersonateOptions{Target: accounts[len(accounts)-1], Delegates: accounts[:len(accounts)-1]})
	if err != nil {
		return nil, nil, invalid(from, err)
	}
	return imp, append(notes, "impersonating "+chain+" ("+from+")"), nil
}

// quotaProject sets the quota project as gcloud's GetQuotaProject decides
// it from billing/quota_project: unset or CURRENT_PROJECT[_WITH_FALLBACK]
// means the project for user accounts and none otherwise, LEGACY none, any
// other value that project. $GOOGLE_CLOUD_QUOTA_PROJECT beats them all.
func (sel *gcloudSelection) quotaProject(c *Credentials, s *settings) {
	switch q, _ := sel.cfg.Get("billing", "quota_project"); q {
	case "", "CURRENT_PROJECT", "CURRENT_PROJECT_WITH_FALLBACK":
		if c.Type == TypeAuthorizedUser {
			c.QuotaProjectID, _ = sel.cfg.Get("core", "project")
		}
	case "LEGACY":
		c.QuotaProjectID = ""
	default:
		c.QuotaProjectID = q
	}
	if q := s.Getenv(envQuotaProject); q != "" {
		c.QuotaProjectID = q
	}
}

// Stored types gcloud writes that are no credential file type.
const (
	gcloudTypeGCE = "gce"
	gcloudTypeP12 = "service_account_p12"
)

// storedCredential is what ListGcloudAccounts reads of a stored
// credential: nothing secret.
type storedCredential struct {
	Type        string `json:"type"`
	ClientEmail string `json:"client_email"`
}

// storedType is the "type" of a stored credential, "" if unreadable.
func storedType(data []byte) string {
	var sc storedCredential
	if len(data) > credsfile.MaxSize || json.Unmarshal(data, &sc) != nil {
		return ""
	}
	return sc.Type
}

// checkUniverse checks a universe domain named by a gcloud property.
func checkUniverse(u string) error {
	_, err := credsfile.Parse(fmt.Appendf(nil, `{"universe_domain":%q}`, u))
	return err
}

// GcloudAccounts is gcloud's configuration and signed-in accounts, without
// secrets: what `gcloud auth list` shows.
type GcloudAccounts struct {
	// Dir is gcloud's configuration directory.
	Dir string
	// Configuration is the active configuration's name.
	Configuration string
	// Active is the active account ("" if none) and ActiveFrom where
	// it is set (CLOUDSDK_CORE_ACCOUNT or the configuration).
	Active, ActiveFrom string
	// Impersonate is gcloud's auth/impersonate_service_account, if set.
	Impersonate string
	// Accounts are the accounts with stored credentials, in gcloud's
	// order. Empty when credentials.db does not exist.
	Accounts []GcloudAccount
}

// GcloudAccount is one of gcloud's signed-in accounts.
type GcloudAccount struct {
	// Account is the account's email.
	Account string
	// UniverseDomain is the universe the credentials are for.
	UniverseDomain string
	// Type is the stored credential's type: TypeAuthorizedUser,
	// TypeServiceAccount, TypeExternalAccount,
	// TypeExternalAccountAuthorizedUser, or gcloud's own "gce" (the
	// metadata server's account) or "service_account_p12".
	Type string
	// Principal is whom the account's tokens are for: the key's
	// client_email for service accounts, else Account.
	Principal string
	// Active reports whether it is the active account (in the
	// configured universe).
	Active bool
}

// ListGcloudAccounts reads gcloud's configuration and credential store
// (with opts.GcloudStore, which is required) and lists the accounts there.
// Only opts.Getenv, opts.HomeDir and opts.GcloudStore are used.
func ListGcloudAccounts(ctx context.Context, opts *Options) (*GcloudAccounts, error) {
	s, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if s.GcloudStore == nil {
		return nil, errors.New("credentials: ListGcloudAccounts needs Options.GcloudStore")
	}
	dir, why := gcloudconfig.Dir(s.Getenv, s.HomeDir)
	if dir == "" {
		return nil, fmt.Errorf("credentials: cannot locate gcloud's configuration: %s", why)
	}
	cfg, err := gcloudconfig.Load(ctx, dir, s.Getenv)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	l := &GcloudAccounts{Dir: dir, Configuration: cfg.Name}
	l.Active, l.ActiveFrom = cfg.Get("core", "account")
	l.Impersonate, _ = cfg.Get("auth", "impersonate_service_account")
	universe, _ := cfg.Get("core", "universe_domain")
	if universe == "" {
		universe = DefaultUniverseDomain
	}
	db := filepath.Join(dir, gcloudconfig.CredentialsDB)
	rows, err := s.GcloudStore.GcloudCredentials(ctx, db)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return l, nil
	case err != nil:
		return nil, fmt.Errorf("credentials: read %s: %w", db, err)
	}
	for _, r := range rows {
		a := GcloudAccount{Account: r.AccountID, UniverseDomain: DefaultUniverseDomain}
		if i := strings.LastIndexByte(r.AccountID, '#'); i >= 0 {
			a.Account, a.UniverseDomain = r.AccountID[:i], r.AccountID[i+1:]
		}
		var sc storedCredential
		if len(r.JSON) <= credsfile.MaxSize {
			_ = json.Unmarshal(r.JSON, &sc) // an unreadable row lists with no type
		}
		a.Type, a.Principal = sc.Type, a.Account
		if sc.Type == TypeServiceAccount && sc.ClientEmail != "" {
			a.Principal = sc.ClientEmail
		}
		a.Active = l.Active != "" && r.AccountID == accountID(l.Active, universe)
		l.Accounts = append(l.Accounts, a)
	}
	return l, nil
}
