package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/internal/diskcache"
)

// Environment variables the CLI reads (besides Google's own ADC variables).
const (
	envCacheDir     = "GCPTOKEN_CACHE_DIR"
	envTokenInfoURL = "GCPTOKEN_TOKENINFO_URL"
)

// defaultScope is what gcloud asks for when no scope is given.
const defaultScope = "https://www.googleapis.com/auth/cloud-platform"

// credFlags are the flags of every command that gets a token.
type credFlags struct {
	file     string
	tokenURL string
	noCache  bool
}

func (f *credFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.file, "credentials", "", "credentials `FILE` (service-account key or authorized_user JSON); default: Application Default Credentials")
	fs.StringVar(&f.tokenURL, "token-url", "", "override the OAuth token endpoint `URL` (default: the file's token_uri, else Google's)")
	fs.BoolVar(&f.noCache, "no-cache", false, "neither read nor write the on-disk token cache")
}

// load finds the credentials the flags and environment select.
func (f *credFlags) load(ctx context.Context, app *App) (*credentials.Credentials, error) {
	if f.tokenURL != "" {
		if u, err := url.Parse(f.tokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usagef("--token-url %q: want an absolute http(s) URL", f.tokenURL)
		}
	}
	opts := &credentials.Options{
		CredentialsFile: f.file,
		TokenURL:        f.tokenURL,
		Getenv:          app.Getenv,
		HomeDir:         app.Getenv("HOME"),
		HTTPClient:      app.HTTPClient,
	}
	creds, err := credentials.Detect(ctx, opts)
	if err != nil && f.file != "" {
		return nil, fmt.Errorf("--credentials: %w", err)
	}
	return creds, err
}

// tokenRequest says which token a command wants.
type tokenRequest struct {
	kind     gcptoken.Kind
	scopes   []string
	audience string
	// tokenFormat and licenses shape metadata-server ID tokens; empty
	// means the source's default.
	tokenFormat string
	licenses    bool
}

// token loads the credentials the flags select and gets the token req asks
// for. Access tokens default to the cloud-platform scope, except for user
// credentials, whose token carries the scopes the user granted.
func (f *credFlags) token(ctx context.Context, app *App, req tokenRequest) (*gcptoken.Token, *credentials.Credentials, error) {
	creds, err := f.load(ctx, app)
	if err != nil {
		return nil, nil, err
	}
	if req.kind == gcptoken.AccessToken && len(req.scopes) == 0 && creds.Type != credentials.TypeAuthorizedUser {
		req.scopes = []string{defaultScope}
	}
	if req.tokenFormat != "" && !creds.SupportsTokenFormat() {
		return nil, nil, usagef("--token-format needs the metadata server's credentials; these are %s (from %s)", creds.Type, creds.Source)
	}
	p, err := f.provider(app, creds, req)
	if err != nil {
		return nil, nil, err
	}
	tok, err := p.Token(ctx)
	if err != nil {
		return nil, nil, err
	}
	if req.kind == gcptoken.IDToken {
		warnAudience(app.Err, creds, req.audience, tok)
	}
	return tok, creds, nil
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
func (f *credFlags) provider(app *App, creds *credentials.Credentials, req tokenRequest) (gcptoken.TokenProvider, error) {
	var src gcptoken.TokenProvider
	var err error
	switch req.kind {
	case gcptoken.IDToken:
		var opts []credentials.IDTokenOption
		if req.tokenFormat != "" {
			opts = append(opts, credentials.WithTokenFormat(req.tokenFormat), credentials.WithLicenses(req.licenses))
		}
		src, err = creds.IDTokenProvider(req.audience, opts...)
	default:
		src, err = creds.AccessTokenProvider(req.scopes)
	}
	if err != nil {
		return nil, err
	}
	src = gcptoken.NewCachedProvider(src, &gcptoken.CacheOptions{Now: app.Now})
	if f.noCache {
		return src, nil
	}
	dir, err := cacheDir(app)
	if err != nil {
		// No cache directory is no reason to fail: fetch without one.
		fmt.Fprintf(app.Err, "gcptoken: warning: token cache disabled: %v\n", err)
		return src, nil
	}
	key := diskcache.Key(diskcache.KeyParts{
		Identity:  creds.Identity(),
		Kind:      req.kind,
		Scopes:    req.scopes,
		Audience:  req.audience,
		Endpoints: creds.TokenEndpoints(),
		Extra:     idTokenShape(req),
	})
	return &diskcache.Provider{
		Cache:  &diskcache.Cache{Dir: dir, Now: app.Now},
		Key:    key,
		Source: src,
		OnError: func(err error) {
			fmt.Fprintf(app.Err, "gcptoken: warning: token cache: %v\n", err)
		},
	}, nil
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
			case s == "openid" || s == "email" || s == "profile" || strings.Contains(s, "://"):
			default:
				s = "https://www.googleapis.com/auth/" + s
			}
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// idTokenShape keeps full-format and standard ID tokens apart in the cache.
func idTokenShape(req tokenRequest) []string {
	if req.tokenFormat == "" {
		return nil
	}
	return []string{"format=" + req.tokenFormat, fmt.Sprintf("licenses=%t", req.licenses)}
}
