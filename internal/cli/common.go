package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/internal/diskcache"
	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/fileutil"
	"github.com/gcptoken/gcptoken/internal/safetext"
)

// Environment variables the CLI reads (besides Google's own ADC variables).
// The endpoint variables (GCPTOKEN_EMULATOR_HOST and the per-endpoint
// overrides) are read by the library, through internal/endpoints, from
// App.Getenv; the CLI names them in help texts.
const (
	envCacheDir     = "GCPTOKEN_CACHE_DIR"
	envEmulatorHost = endpoints.EnvEmulatorHost
	envTokenInfoURL = endpoints.EnvTokenInfoURL
	envIAMEndpoint  = endpoints.EnvIAMEndpoint
	envSTSEndpoint  = endpoints.EnvSTSEndpoint
	// envImpersonate is gcloud's environment form of
	// auth/impersonate_service_account; gcptoken honours it the same way.
	envImpersonate = "CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT"
)

// credFlags are the flags of every command that gets a token.
type credFlags struct {
	file        string
	account     string // gcloud's signed-in account (gcloud.go)
	tokenURL    string
	noCache     bool
	impersonate string
	lifetime    time.Duration
	subject     string
	iamEndpoint string
	// accessBoundary is the Credential Access Boundary file; stsEndpoint
	// where the downscoping exchange goes.
	accessBoundary string
	stsEndpoint    string
	// universe is the universe the command is configured for; "" means
	// $GOOGLE_CLOUD_UNIVERSE_DOMAIN, and without either no check is made.
	universe string

	// fetches counts the token requests behind the on-disk cache of the
	// last token call: none means the token came from the cache (see
	// fromCache).
	fetches *fetchCounter
}

// fetchCounter counts the calls of a token source.
type fetchCounter struct {
	src gcptoken.TokenProvider
	n   atomic.Int32
}

func (c *fetchCounter) Token(ctx context.Context) (*gcptoken.Token, error) {
	c.n.Add(1)
	return c.src.Token(ctx)
}

// fromCache reports whether the last token the flags got was served by the
// on-disk cache rather than fetched: a server that refuses it may be
// refusing a revoked token, which a fresh one replaces.
func (f *credFlags) fromCache() bool {
	return f.fetches != nil && f.fetches.n.Load() == 0
}

func (f *credFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.file, "credentials", "", "credentials `FILE` (service-account key, authorized_user or impersonated_service_account JSON); default: Application Default Credentials")
	fs.StringVar(&f.account, "account", "", "use gcloud's signed-in `ACCOUNT` (gcloud auth login, activate-service-account) instead of Application Default Credentials, as gcloud's --account does")
	fs.StringVar(&f.tokenURL, "token-url", "", "override the OAuth token endpoint `URL` (default: the file's token_uri, else Google's)")
	fs.BoolVar(&f.noCache, "no-cache", false, "neither read nor write the on-disk token cache")
	fs.StringVar(&f.impersonate, "impersonate-service-account", "", "impersonate `SA[,SA…]`: the last is the target, earlier ones are delegates, as in gcloud (default $"+envImpersonate+")")
	fs.DurationVar(&f.lifetime, "lifetime", 0, "impersonated access-token `DURATION` (default 1h; up to 12h where the org policy allows more than 1h)")
	fs.StringVar(&f.subject, "subject", "", "domain-wide delegation: act as `USER` (needs a service-account key, or impersonation)")
	fs.StringVar(&f.iamEndpoint, "iam-endpoint", "", "IAM Credentials API base `URL` for impersonation (default $"+envIAMEndpoint+", else $"+envEmulatorHost+"'s, else Google's)")
	fs.StringVar(&f.accessBoundary, "access-boundary", "", `downscope access tokens to the Credential Access Boundary in `+"`FILE`"+` ({"accessBoundary":{"accessBoundaryRules":[…]}}) through STS`)
	fs.StringVar(&f.universe, "universe-domain", "", "refuse credentials of a universe other than `DOMAIN` (default $"+credentials.EnvUniverseDomain+"; unset: no check), as gcloud's --universe-domain does")
	fs.StringVar(&f.stsEndpoint, "sts-endpoint", "", "STS token-exchange `URL` for --access-boundary (default $"+envSTSEndpoint+", else $"+envEmulatorHost+"'s, else https://sts.googleapis.com/v1/token)")
}

// load finds the credentials the flags and environment select.
func (f *credFlags) load(ctx context.Context, app *App) (*credentials.Credentials, error) {
	if f.tokenURL != "" {
		if u, err := url.Parse(f.tokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usagef("--token-url %q: want an absolute http(s) URL", f.tokenURL)
		}
	}
	universe, universeFrom := f.universe, "--universe-domain"
	if universe == "" {
		universe, universeFrom = app.Getenv(credentials.EnvUniverseDomain), credentials.EnvUniverseDomain
	}
	if universe != "" {
		if err := endpoints.CheckUniverseDomain(universe); err != nil {
			return nil, usagef("%s: %v", universeFrom, err)
		}
	}
	if f.account != "" && f.file != "" {
		return nil, usagef("--account and --credentials name two credentials: use one")
	}
	opts := &credentials.Options{
		CredentialsFile: f.file,
		TokenURL:        f.tokenURL,
		Getenv:          app.Getenv,
		HomeDir:         app.Getenv("HOME"),
		HTTPClient:      app.HTTPClient,
	}
	f.gcloudOptions(app, opts)
	app.progress.phase("the credentials (Application Default Credentials search)", nil, 1)
	creds, err := credentials.Detect(ctx, opts)
	switch {
	case err != nil && f.file != "":
		return nil, fmt.Errorf("--credentials: %w", err)
	case err != nil && f.account != "":
		return nil, fmt.Errorf("--account: %w", err)
	case errors.Is(err, credentials.ErrNoCredentials):
		return nil, fmt.Errorf("%w (with --credentials FILE)", err)
	case err != nil:
		return nil, err
	}
	// Unlike a client library's transport the CLI checks the universe only
	// when one is configured: printing a token sends it nowhere, and a key
	// of another universe should work without configuration.
	if universe != "" {
		if err := creds.CheckUniverseDomain(universe); err != nil {
			return nil, fmt.Errorf("%s (from %s): %w", creds.Source, universeFrom, err)
		}
	}
	if creds, err = f.impersonateIfAsked(app, creds); err != nil {
		return nil, err
	}
	if f.subject != "" {
		if creds, err = creds.WithSubject(f.subject); err != nil {
			return nil, usagef("--subject: %v", err)
		}
	}
	return f.downscopeIfAsked(ctx, app, creds)
}

// downscopeIfAsked wraps creds in a Credential Access Boundary when
// --access-boundary names one. It comes last: the boundary restricts
// whatever token the other flags select.
func (f *credFlags) downscopeIfAsked(ctx context.Context, app *App, creds *credentials.Credentials) (*credentials.Credentials, error) {
	if f.accessBoundary == "" {
		if f.stsEndpoint != "" {
			return nil, usagef("--sts-endpoint needs --access-boundary")
		}
		return creds, nil
	}
	data, err := readBoundaryFile(ctx, f.accessBoundary)
	if err != nil {
		return nil, usagef("--access-boundary %q: %v", f.accessBoundary, err)
	}
	// Without --sts-endpoint the library picks $GCPTOKEN_STS_ENDPOINT, the
	// emulator's, or Google's.
	d, err := credentials.Downscope(creds, &credentials.DownscopeOptions{Boundary: data, STSEndpoint: f.stsEndpoint})
	var be *credentials.AccessBoundaryError
	switch {
	case errors.As(err, &be):
		return nil, usagef("--access-boundary %q: %v", f.accessBoundary, be)
	case err != nil:
		return nil, usagef("--access-boundary: %v", err)
	}
	return d, nil
}

// readBoundaryFile reads an access-boundary file, bounded in size whatever
// kind of file it is and ended by ctx (a FIFO no one writes); its errors do
// not repeat the path.
func readBoundaryFile(ctx context.Context, path string) ([]byte, error) {
	data, err := fileutil.ReadFile(ctx, path, maxBoundaryFile)
	switch {
	case err == nil:
		return data, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, errors.New("file does not exist")
	case errors.Is(err, fs.ErrPermission):
		return nil, errors.New("permission denied")
	case errors.Is(err, fileutil.ErrIsDirectory):
		return nil, errors.New("is a directory, not an access boundary file")
	case errors.Is(err, fileutil.ErrTooLarge):
		return nil, fmt.Errorf("%w; not an access boundary file", err)
	}
	return nil, unwrapPathError(err)
}

// maxBoundaryFile bounds --access-boundary files: STS takes at most 2048
// characters of boundary, so a large file is the wrong file.
const maxBoundaryFile = 64 << 10

// impersonateIfAsked wraps creds in impersonation when
// --impersonate-service-account (or gcloud's variable) names a chain.
func (f *credFlags) impersonateIfAsked(app *App, creds *credentials.Credentials) (*credentials.Credentials, error) {
	chain, flag := f.impersonate, "--impersonate-service-account"
	if chain == "" {
		chain, flag = app.Getenv(envImpersonate), envImpersonate
	}
	if chain == "" {
		if f.lifetime != 0 {
			return nil, usagef("--lifetime needs --impersonate-service-account")
		}
		return creds, nil
	}
	var accounts []string
	for _, a := range strings.Split(chain, ",") {
		if a = strings.TrimSpace(a); a == "" {
			return nil, usagef("%s %q: empty service account in the list", flag, chain)
		}
		accounts = append(accounts, a)
	}
	// Without --iam-endpoint the library picks $GCPTOKEN_IAM_ENDPOINT, the
	// emulator's, or Google's.
	imp, err := credentials.Impersonate(creds, &credentials.ImpersonateOptions{
		Target:      accounts[len(accounts)-1],
		Delegates:   accounts[:len(accounts)-1],
		Lifetime:    f.lifetime,
		IAMEndpoint: f.iamEndpoint,
		TokenURL:    f.tokenURL,
	})
	if err != nil {
		return nil, f.impersonateError(flag, chain, err)
	}
	return imp, nil
}

// impersonateError words a refused impersonation option for the flag that
// set it, with the value as typed and without the library's Go names.
func (f *credFlags) impersonateError(chainFlag, chain string, err error) error {
	var oe *credentials.OptionError
	if !errors.As(err, &oe) {
		return usagef("%s: %v", chainFlag, err)
	}
	switch field, _, _ := strings.Cut(oe.Field, "["); field {
	case "ImpersonateOptions.Lifetime":
		return usagef("--lifetime %s: %v (and more than 1h needs the organization policy constraints/iam.allowServiceAccountCredentialLifetimeExtension)",
			shortDuration(f.lifetime), oe.Err)
	case "ImpersonateOptions.IAMEndpoint":
		return usagef("--iam-endpoint %q: %v", f.iamEndpoint, oe.Err)
	case "ImpersonateOptions.TokenURL":
		return usagef("--token-url %q: %v", f.tokenURL, oe.Err)
	}
	return usagef("%s %q: %v", chainFlag, chain, oe.Err)
}

// shortDuration formats d as people write it: "24h", not "24h0m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// token loads the credentials the flags select and gets the token req asks
// for, with the library's defaults (credentials.Credentials.Resolve).
func (f *credFlags) token(ctx context.Context, app *App, req credentials.TokenRequest) (*gcptoken.Token, *credentials.Credentials, error) {
	creds, err := f.load(ctx, app)
	if err != nil {
		return nil, nil, err
	}
	req = creds.Resolve(&req)
	if req.Kind == gcptoken.IDToken && creds.Type == credentials.TypeDownscoped {
		return nil, nil, usagef("--access-boundary: downscoped credentials have access tokens only; drop it for an ID token")
	}
	if req.TokenFormat != "" && !creds.SupportsTokenFormat() {
		return nil, nil, usagef("--token-format needs the metadata server's credentials; these are %s (from %s)", creds.Type, creds.Source)
	}
	p, err := f.provider(ctx, app, creds, req)
	if err != nil {
		return nil, nil, err
	}
	app.progress.phase(describeKind(req.Kind), creds.TokenEndpoints(), tokenAttempts)
	tok, err := p.Token(ctx)
	if err != nil {
		return nil, nil, err
	}
	if req.Kind == gcptoken.IDToken {
		warnAudience(app.Err, creds, req.Audience, tok)
	}
	return tok, creds, nil
}

// describeKind names a token kind for messages: "an access token".
func describeKind(k gcptoken.Kind) string {
	if k == gcptoken.IDToken {
		return "an ID token"
	}
	return "an access token"
}

// warnAudience tells the user when the token's real audience is not the one
// they asked for (user credentials cannot choose it).
func warnAudience(w io.Writer, creds *credentials.Credentials, want string, tok *gcptoken.Token) {
	got := tok.Metadata[gcptoken.MetaAudience]
	if got == "" || got == want {
		return
	}
	fmt.Fprintf(w, "gcptoken: warning: %s credentials cannot choose an ID token's audience: this token's audience is %q (the OAuth client), not %q; a service that requires %q will refuse it — use a service account for that\n",
		creds.Type, got, want, want)
}

// provider builds the token provider for req: the credential's plain source
// wrapped in the in-process cache (retries, coalescing) and, unless
// --no-cache, the on-disk cache shared by all gcptoken processes.
//
// The on-disk cache is keyed by the principal the token will carry, so for
// federated credentials the subject token is read first (a Snapshot), and
// the fetch on a miss exchanges exactly that subject token: two workloads
// sharing one configuration file, or a subject token replaced by another
// principal's, never get each other's cached token, and one that cannot be
// read is an error, not the previous token.
func (f *credFlags) provider(ctx context.Context, app *App, creds *credentials.Credentials, req credentials.TokenRequest) (gcptoken.TokenProvider, error) {
	// The plain source first, unpinned: its usage errors come before any
	// subject token is read.
	src, err := plainSource(creds, req)
	if err != nil {
		return nil, err
	}
	f.fetches = nil
	// The cache's refresh runs detached from the command's context:
	// --timeout bounds it too (0: the cache's own bound, 60s), so that a
	// --timeout above a minute is honoured.
	opts := &gcptoken.CacheOptions{Now: app.Now, FetchTimeout: app.timeout}
	cache := f.diskCache(app)
	if cache == nil {
		return gcptoken.NewCachedProvider(src, opts)
	}
	pinned, err := creds.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if pinned != creds {
		if src, err = plainSource(pinned, req); err != nil {
			return nil, err
		}
	}
	cached, err := gcptoken.NewCachedProvider(src, opts)
	if err != nil {
		return nil, err
	}
	f.fetches = &fetchCounter{src: cached}
	return &diskcache.Provider{
		Cache:  cache,
		Key:    cacheKey(pinned, req),
		Source: f.fetches,
		OnError: func(err error) {
			fmt.Fprintf(app.Err, "gcptoken: warning: token cache: %s\n", safetext.OneLine(err.Error()))
		},
	}, nil
}

// plainSource is the credential's uncached source of the token req asks
// for, its errors worded for the flags.
func plainSource(creds *credentials.Credentials, req credentials.TokenRequest) (gcptoken.TokenProvider, error) {
	src, err := creds.SourceFor(&req)
	switch {
	case err != nil && req.SelfSigned:
		return nil, usagef("--self-signed: %v", err)
	case err != nil && req.Kind == gcptoken.IDToken && creds.Type == credentials.TypeExternalAccount:
		return nil, fmt.Errorf("%w (`gcptoken create-cred-config --service-account EMAIL` writes one)", err)
	}
	return src, err
}

// diskCache is the on-disk cache, or nil with --no-cache or when there is
// no cache directory (which is no reason to fail: fetch without one).
func (f *credFlags) diskCache(app *App) *diskcache.Cache {
	if f.noCache {
		return nil
	}
	dir, err := cacheDir(app)
	if err != nil {
		fmt.Fprintf(app.Err, "gcptoken: warning: token cache disabled: %v\n", err)
		return nil
	}
	return &diskcache.Cache{Dir: dir, Now: app.Now}
}

// cacheKey is the on-disk cache entry of req from creds, which must be a
// Snapshot.
func cacheKey(creds *credentials.Credentials, req credentials.TokenRequest) diskcache.KeyParts {
	return diskcache.KeyParts{
		Identity:  creds.Identity(),
		Owner:     creds.RootIdentity(),
		Kind:      req.Kind,
		Scopes:    req.Scopes,
		Audience:  req.Audience,
		Endpoints: creds.TokenEndpoints(),
		Extra:     idTokenShape(req),
		Principal: creds.Principal,
	}
}

// forget drops the cached token that req would be served, if it holds value
// (any token when value is ""): a credential helper's erase, called when a
// server refused the token. Credentials that cannot be loaded, or whose
// subject token cannot be read, cannot have a token cached under their
// current key, so there is nothing to drop.
func (f *credFlags) forget(ctx context.Context, app *App, req credentials.TokenRequest, value string) error {
	cache := f.diskCache(app)
	if cache == nil {
		return nil
	}
	creds, err := f.load(ctx, app)
	if err != nil {
		return nil
	}
	pinned, err := creds.Snapshot(ctx)
	if err != nil {
		return nil
	}
	_, err = cache.Forget(cacheKey(pinned, creds.Resolve(&req)), value)
	return err
}

// erase is the credential helpers' erase: it drops the cached access token
// the helper's get would serve, if it is value.
func (o *helperOptions) erase(app *App) func(ctx context.Context, value string) error {
	return func(ctx context.Context, value string) error {
		return o.creds.forget(ctx, app, credentials.TokenRequest{Scopes: parseScopes(o.scopes)}, value)
	}
}

func cacheDir(app *App) (string, error) {
	if d := app.Getenv(envCacheDir); d != "" {
		return filepath.Abs(d)
	}
	return diskcache.DefaultDir()
}

// parseScopes accepts scopes separated by commas and/or spaces, and expands
// short names ("cloud-platform") to Google's URL form, as oauth2l does.
// openid, email and profile are OpenID scopes and stay as they are.
func parseScopes(values []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range values {
		for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
			switch {
			case s == credentials.ScopeOpenID || s == "email" || s == "profile" || strings.Contains(s, "://"):
			default:
				s = credentials.ScopePrefix + s
			}
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// idTokenShape keeps tokens of different shapes apart in the cache:
// full-format and standard ID tokens, with and without email, self-signed
// JWTs and tokens from a token endpoint.
func idTokenShape(req credentials.TokenRequest) []string {
	var shape []string
	if req.TokenFormat != "" {
		shape = append(shape, "format="+req.TokenFormat, fmt.Sprintf("licenses=%t", req.Licenses))
	}
	if req.IncludeEmail {
		shape = append(shape, "include_email")
	}
	if req.SelfSigned {
		shape = append(shape, "self_signed")
	}
	return shape
}
