package credentials

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/credsfile"
	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/fileutil"
)

// Credential types, as in Credentials.Type.
const (
	TypeServiceAccount             = credsfile.TypeServiceAccount
	TypeAuthorizedUser             = credsfile.TypeAuthorizedUser
	TypeImpersonatedServiceAccount = credsfile.TypeImpersonatedServiceAccount
	TypeComputeMetadata            = "compute_metadata"
)

// supportedTypes lists the credential file types parse accepts, for errors.
var supportedTypes = TypeServiceAccount + ", " + TypeAuthorizedUser + ", " + TypeImpersonatedServiceAccount +
	", " + TypeExternalAccount + ", " + TypeExternalAccountAuthorizedUser

// Step is one source that the ADC search considered: one line of
// `gcptoken explain`, e.g. {"GOOGLE_APPLICATION_CREDENTIALS", false, "not set"}.
type Step struct {
	// Source names the place searched, e.g. "gcloud well-known file".
	Source string
	// Used reports whether the credentials came from this source.
	Used bool
	// Detail says what was found there, or why it was skipped.
	Detail string
}

// Credentials is a loaded credential. Its fields describe it and contain no
// secret; its methods make token providers.
type Credentials struct {
	// Type is TypeServiceAccount, TypeAuthorizedUser,
	// TypeImpersonatedServiceAccount or TypeComputeMetadata.
	Type string
	// Source says where the credential came from, for humans, e.g.
	// `GOOGLE_APPLICATION_CREDENTIALS="/x.json"`.
	Source string
	// Path is the credential file, if there is one.
	Path string
	// Principal is who the tokens are for: the service account's email
	// (for impersonation, the target's), or for authorized_user the file's
	// "account" field if it has one, or for the metadata server the default
	// service account's email as Detect learnt it, or the user set by
	// WithSubject. Empty when unknown.
	Principal string
	// ClientID is the OAuth client id (service account unique id, or the
	// OAuth client of a user credential).
	ClientID string
	// ProjectID is $GOOGLE_CLOUD_PROJECT, else the file's project_id, else
	// for the metadata server its project/project-id.
	ProjectID string
	// QuotaProjectID is $GOOGLE_CLOUD_QUOTA_PROJECT, else the file's
	// quota_project_id.
	QuotaProjectID string
	// UniverseDomain is the file's universe_domain, or the metadata
	// server's universe/universe-domain; else "googleapis.com". Endpoints
	// derive from it (https://iamcredentials.{universe}, …); outside
	// googleapis.com a service-account key's access tokens are self-signed
	// JWTs and its ID tokens come from IAM Credentials, as in Google's
	// libraries (see CheckUniverseDomain).
	UniverseDomain string
	// Steps is the ADC search as it happened, every source in Google's
	// order. Set by Detect only.
	Steps []Step

	impl credential
	// client is the HTTP client the credential was loaded with, inherited
	// by Impersonate.
	client *http.Client
	// ends is the endpoint configuration of the environment the credential
	// was loaded in (GCPTOKEN_EMULATOR_HOST and the per-endpoint
	// variables), inherited by Impersonate and Downscope for their
	// defaults; nil means Google's production URLs.
	ends *endpoints.Env
	// memo holds the providers of AccessToken and IDToken. Every function
	// that makes a Credentials with another impl (another principal) gives
	// it a new one: see tokenmemo.go.
	memo *tokenMemo
}

// credential is what each credential type implements, one file per type.
type credential interface {
	// accessTokenProvider and idTokenProvider return plain sources.
	accessTokenProvider(scopes []string) (gcptoken.TokenProvider, error)
	// idTokenProvider gets validated options; only the metadata server
	// uses them.
	idTokenProvider(audience string, o IDTokenOptions) (gcptoken.TokenProvider, error)
	identity() string
	tokenEndpoints() []string
	// snapshot returns the credential bound to the principal it stands
	// for now (see Snapshot): itself unless that is decided per token.
	snapshot(ctx context.Context) (credential, error)
}

// AccessTokenProvider returns a source of OAuth access tokens for scopes,
// cached: a token is reused until shortly before it expires, refreshed
// ahead of time in the background, concurrent callers share one request,
// and transient failures are retried (gcptoken.NewCachedProvider with
// default CacheOptions). Keep the provider and call Token for every use.
//
// Tokens have Kind gcptoken.AccessToken and Metadata[gcptoken.MetaScope]
// set to the granted scopes when the server reports them. Empty scopes
// mean DefaultScope for credentials that need scopes (service-account
// keys, impersonation, federation); user credentials then get the scopes
// they were granted at sign-in, and the metadata server its instance's
// scopes.
func (c *Credentials) AccessTokenProvider(scopes []string) (gcptoken.TokenProvider, error) {
	src, err := c.AccessTokenSource(scopes)
	if err != nil {
		return nil, err
	}
	return gcptoken.NewCachedProvider(src, nil)
}

// AccessTokenSource is AccessTokenProvider without the cache: each Token
// call makes one request. It is for code that caches by itself (a metadata
// server, an on-disk cache) or wraps the source in gcptoken.NewCachedProvider
// with its own CacheOptions.
func (c *Credentials) AccessTokenSource(scopes []string) (gcptoken.TokenProvider, error) {
	if c == nil || c.impl == nil {
		return nil, errNotLoaded
	}
	for _, s := range scopes {
		if s == "" {
			return nil, errors.New("credentials: empty scope")
		}
	}
	if len(scopes) == 0 {
		return c.impl.accessTokenProvider(defaultScopes(c.impl))
	}
	return c.impl.accessTokenProvider(slices.Clone(scopes))
}

// IDTokenProvider returns a cached source of OpenID Connect ID tokens for
// audience (cached as AccessTokenProvider's tokens are). Tokens have Kind
// gcptoken.IDToken, Expiry from the token's exp claim, and
// Metadata[gcptoken.MetaAudience] set to the aud claim the token really
// carries: user credentials cannot choose their audience, which is always
// their OAuth client id.
//
// opts choose the metadata server's token format and license claims, and
// whether impersonated credentials' tokens carry the email; other
// credentials ignore them (see SupportsTokenFormat), but an invalid value
// is an error for every credential. opts may be nil.
func (c *Credentials) IDTokenProvider(audience string, opts *IDTokenOptions) (gcptoken.TokenProvider, error) {
	src, err := c.IDTokenSource(audience, opts)
	if err != nil {
		return nil, err
	}
	return gcptoken.NewCachedProvider(src, nil)
}

// IDTokenSource is IDTokenProvider without the cache: each Token call makes
// one request (see AccessTokenSource).
func (c *Credentials) IDTokenSource(audience string, opts *IDTokenOptions) (gcptoken.TokenProvider, error) {
	if c == nil || c.impl == nil {
		return nil, errNotLoaded
	}
	if audience == "" {
		return nil, errors.New("credentials: an ID token needs an audience (for example the URL of the Cloud Run service to call)")
	}
	var o IDTokenOptions
	if opts != nil {
		o = *opts
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return c.impl.idTokenProvider(audience, o)
}

// SupportsTokenFormat reports whether IDTokenProvider honours
// IDTokenOptions.TokenFormat and Licenses: true only for the metadata server, the
// one issuer that can add Compute Engine claims. A CLI can use it to refuse
// a format the credential would silently ignore.
func (c *Credentials) SupportsTokenFormat() bool {
	_, ok := c.impl.(*metadataServer)
	return ok
}

// Metadata returns a client of the metadata server the credential uses, for
// reading other facts about the instance; nil unless Type is
// TypeComputeMetadata.
func (c *Credentials) Metadata() *MetadataClient {
	if m, ok := c.impl.(*metadataServer); ok {
		return m.md
	}
	return nil
}

// Identity returns a string that tells this credential apart from every other
// one, for cache keys. It contains no secret: see each type's identity
// method for what goes in.
//
// The principal of federated credentials (external_account) is decided by
// the subject token each exchange reads, so their Identity names only the
// configuration: key caches by the Identity of a Snapshot, which includes a
// fingerprint of the subject token.
func (c *Credentials) Identity() string {
	if c.impl == nil {
		return c.Type
	}
	return c.impl.identity()
}

// TokenEndpoints returns the URLs that tokens come from, for cache keys and
// `gcptoken explain`.
func (c *Credentials) TokenEndpoints() []string {
	if c.impl == nil {
		return nil
	}
	return c.impl.tokenEndpoints()
}

// errNotLoaded is returned by a Credentials not made by this package.
var errNotLoaded = errors.New("credentials: Credentials must come from Detect, FromFile or FromJSON")

// origin says where credential JSON came from, for errors and Source.
type origin struct {
	path   string // the file, or "" for JSON given in memory
	via    string // "" or e.g. "GOOGLE_APPLICATION_CREDENTIALS", for errors
	source string // Credentials.Source
}

func (o origin) name() string {
	switch {
	case o.path == "":
		return "credentials JSON"
	case o.via != "":
		return fmt.Sprintf("credentials %q (from %s)", o.path, o.via)
	}
	return fmt.Sprintf("credentials %q", o.path)
}

// FromFile loads the credential file at path. Problems with the file satisfy
// errors.Is(err, gcptoken.ErrInvalidCredentials) and name the file. Its read
// cannot be interrupted: for a path that may be a FIFO or a pipe, use
// Detect with Options.CredentialsFile, whose context bounds the read.
func FromFile(path string, opts *Options) (*Credentials, error) {
	s, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	return fromFile(context.Background(), path, origin{path: path, source: fmt.Sprintf("file %q", path)}, s)
}

// FromJSON loads a credential from its JSON. Problems with it satisfy
// errors.Is(err, gcptoken.ErrInvalidCredentials).
func FromJSON(data []byte, opts *Options) (*Credentials, error) {
	s, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	return parse(data, origin{source: "credentials JSON"}, s)
}

func fromFile(ctx context.Context, path string, o origin, s *settings) (*Credentials, error) {
	data, err := readFile(ctx, path)
	if err != nil {
		return nil, invalid(o.name(), err)
	}
	return parse(data, o, s)
}

// readFile reads a credential or subject-token file, refusing directories
// and anything larger than credsfile.MaxSize, whatever kind of file it is,
// and giving up when ctx ends (a FIFO with no writer, a stalled pipe). Its
// errors do not repeat the path; callers add it.
func readFile(ctx context.Context, path string) ([]byte, error) {
	data, err := fileutil.ReadFile(ctx, path, credsfile.MaxSize)
	switch {
	case err == nil:
		return data, nil
	case errors.Is(err, fileutil.ErrIsDirectory):
		return nil, errors.New("is a directory, not a credentials file")
	case errors.Is(err, fileutil.ErrTooLarge):
		return nil, fmt.Errorf("%w; not a credentials file", err)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w (a named pipe or device that never delivered the file?)", err)
	}
	return nil, fileErr(err)
}

// fileErr keeps the *fs.PathError (for errors.Is(err, fs.ErrNotExist)) but
// words it without the path, which the caller already names.
func fileErr(err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &quietPathError{"file does not exist", pe}
	case errors.Is(err, fs.ErrPermission):
		return &quietPathError{"permission denied", pe}
	}
	return &quietPathError{pe.Op + ": " + pe.Err.Error(), pe}
}

type quietPathError struct {
	msg string
	err *fs.PathError
}

func (e *quietPathError) Error() string { return e.msg }
func (e *quietPathError) Unwrap() error { return e.err }

// parse loads one credential file's JSON and applies what the environment
// overrides.
func parse(data []byte, o origin, s *settings) (*Credentials, error) {
	c, err := parseCredential(data, o.source, o.path, s, 0)
	if err != nil {
		return nil, invalid(o.name(), err)
	}
	if p := s.Getenv(envProject); p != "" {
		c.ProjectID = p
	}
	if q := s.Getenv(envQuotaProject); q != "" {
		c.QuotaProjectID = q
	}
	return c, nil
}

// parseCredential is the one switch on the credential file's "type". depth
// counts the source_credentials objects that enclose data. Its errors do
// not name the file; parse adds that.
func parseCredential(data []byte, source, path string, s *settings, depth int) (*Credentials, error) {
	f, err := credsfile.Parse(data)
	if err != nil {
		return nil, err
	}
	var c *Credentials
	switch f.Type {
	case credsfile.TypeServiceAccount:
		c, err = newServiceAccount(f, s)
	case credsfile.TypeAuthorizedUser:
		c, err = newAuthorizedUser(f, s)
	case credsfile.TypeImpersonatedServiceAccount:
		c, err = newImpersonatedFile(f, source, path, s, depth)
	case credsfile.TypeExternalAccount:
		c, err = newExternalAccount(f, source, s)
	case credsfile.TypeExternalAccountAuthorizedUser:
		c, err = newExternalAccountUser(f, s)
	case credsfile.TypeGDCHServiceAccount:
		err = fmt.Errorf("credential type %q is not supported yet (supported: %s)", f.Type, supportedTypes)
	case "":
		switch {
		case f.ClientSecrets:
			err = errors.New(`is an OAuth client secrets file, not a credential: ` +
				"`gcptoken login --client-id-file FILE` (or `gcloud auth application-default login --client-id-file=FILE`) " +
				"signs you in with it and writes one")
		case f.HasType:
			err = errors.New(`has an empty "type" field`)
		default:
			err = errors.New(`has no "type" field`)
		}
	default:
		t := f.Type
		if len(t) > 64 {
			t = t[:64] + "…"
		}
		err = fmt.Errorf("unknown credential type %q (supported: %s)", t, supportedTypes)
	}
	if err != nil {
		return nil, err
	}
	if c.Source == "" { // impersonation describes its chain itself
		c.Source = source
	}
	c.Path, c.client, c.ends, c.memo = path, s.client, s.ends, newTokenMemo()
	if c.UniverseDomain == "" {
		c.UniverseDomain = DefaultUniverseDomain
	}
	return c, nil
}

// tokenURL picks the token endpoint of a file credential: the Options
// override, else the file's token_uri, else Google's; the last two on the
// emulator when GCPTOKEN_EMULATOR_HOST is set.
func tokenURL(s *settings, fromFile, universe string) (string, error) {
	switch {
	case s.TokenURL != "":
		return s.TokenURL, nil
	case fromFile == "":
		return s.ends.Rewrite(defaultTokenURL(cmp.Or(universe, DefaultUniverseDomain))), nil
	}
	if err := endpoints.CheckURL(fromFile); err != nil {
		return "", &credsfile.FieldError{Field: "token_uri", Err: err}
	}
	return s.ends.Rewrite(fromFile), nil
}

// missing is the error for a required field that is absent or empty.
func missing(field, typ string) error {
	return &credsfile.FieldError{Field: field, Err: fmt.Errorf("missing or empty (required for %s)", typ)}
}

// invalidError is an error caused by the credential itself:
// errors.Is(err, gcptoken.ErrInvalidCredentials) holds for it.
type invalidError struct {
	prefix string
	err    error
}

func invalid(prefix string, err error) error { return &invalidError{prefix, err} }

func (e *invalidError) Error() string        { return e.prefix + ": " + e.err.Error() }
func (e *invalidError) Unwrap() error        { return e.err }
func (e *invalidError) Is(target error) bool { return target == gcptoken.ErrInvalidCredentials }
