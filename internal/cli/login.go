package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/credsfile"
	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/fileutil"
	"github.com/gcptoken/gcptoken/internal/redirect"
	"github.com/gcptoken/gcptoken/internal/safetext"
	"github.com/gcptoken/gcptoken/oauthflow"
)

// Environment variables `login` and `logout` read. The emulator's env.sh
// exports them; CLOUDSDK_AUTH_TOKEN_HOST is gcloud's own.
const (
	envAuthURL     = endpoints.EnvAuthURL
	envGcloudToken = endpoints.EnvGcloudTokenHost
	envEmulatorURL = endpoints.EnvEmulatorURL
)

type loginOptions struct {
	port         int
	noBrowser    bool
	paste        bool
	timeout      time.Duration
	scopes       []string
	clientFile   string
	loginHint    string
	output       string
	quotaProject string
	authURL      string
	tokenURL     string
}

func newLoginCmd(app *App) *cobra.Command {
	o := &loginOptions{}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in as yourself in a browser and save user credentials for ADC",
		Long: `Sign in with your Google account in a browser (the OAuth installed-app flow)
and save the result as an authorized_user credentials file where gcloud keeps
Application Default Credentials ($CLOUDSDK_CONFIG, else ~/.config/gcloud),
or to --output. Like 'gcloud auth application-default login'.

The browser is sent back to a loopback address (127.0.0.1, a random port
unless --port); the sign-in uses PKCE and a random state. --no-browser
prints the URL instead of opening a browser; --paste is for machines
without one: open the URL anywhere and paste back the address the browser
was sent to.

--client-id-file is the JSON of an OAuth client ID of type "Desktop app"
(Google Cloud console, APIs & Services, Credentials). Under the emulator
($` + envEmulatorURL + ` set) the emulator's built-in client is the default.`,
		Example: `  gcptoken login --client-id-file client_secret.json
  gcptoken login --client-id-file client_secret.json --paste --scopes cloud-platform,openid,email
  . ./fake-google/env.sh && gcptoken login && gcptoken print-access-token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return loginRun(cmd.Context(), app, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.port, "port", 0, "loopback `PORT` for the browser's redirect (default: a free one)")
	f.BoolVar(&o.noBrowser, "no-browser", false, "print the sign-in URL instead of opening a browser (open it on this machine)")
	f.BoolVar(&o.paste, "paste", false, "for machines without a browser: open the URL on any machine, then paste back the address it was redirected to (or its code)")
	f.DurationVar(&o.timeout, "timeout", oauthflow.DefaultTimeout, "wait at most `DURATION` for the sign-in in the browser")
	f.StringSliceVar(&o.scopes, "scopes", nil, "OAuth `SCOPES` to ask for, comma-separated; short names get Google's prefix (default openid,userinfo.email,cloud-platform)")
	f.StringVar(&o.clientFile, "client-id-file", "", "the OAuth client JSON `FILE` of a Desktop app client ({\"installed\": …})")
	f.StringVar(&o.loginHint, "login-hint", "", "preselect this account (`EMAIL`) on the sign-in page")
	f.StringVar(&o.output, "output", "", "write the credentials to `FILE` (default gcloud's application_default_credentials.json)")
	f.StringVar(&o.quotaProject, "quota-project", "", "record `PROJECT` as quota_project_id (billing and quota for API calls)")
	f.StringVar(&o.authURL, "auth-url", "", "authorization endpoint `URL` (default $"+envAuthURL+", else the client file's, else Google's)")
	f.StringVar(&o.tokenURL, "token-url", "", "token endpoint `URL` (default $"+envGcloudToken+", else the client file's, else Google's)")
	return cmd
}

func loginRun(ctx context.Context, app *App, o *loginOptions) error {
	mode, err := o.validate()
	if err != nil {
		return err
	}
	cfg, err := o.config(ctx, app)
	if err != nil {
		return err
	}
	out, err := adcOutputPath(app, o.output, "--output")
	if err != nil {
		return err
	}
	// Fail on an unwritable destination before the user signs in.
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return fmt.Errorf("login: --output %q: cannot create its directory: %w", out, unwrapPathError(err))
	}
	open := app.OpenBrowser
	if open == nil {
		open = oauthflow.OpenSystemBrowser
	}
	tok, err := oauthflow.RunInstalled(ctx, &oauthflow.InstalledOptions{
		Config: cfg,
		// A refresh token every time: offline access, and the consent
		// screen so that Google issues a new one on every sign-in.
		Params:  oauthflow.AuthParams{Offline: true, Prompt: "consent", LoginHint: o.loginHint},
		Port:    o.port,
		Browser: mode,
		Opener:  open,
		In:      app.In,
		Out:     app.Err, // instructions; stdout stays clean
		Timeout: o.timeout,
	})
	if err != nil {
		return loginError(o, err)
	}
	if tok.RefreshToken == "" {
		return credentialErrorf("login: the token endpoint returned no refresh token, so nothing could be saved; sign in again")
	}
	data, err := marshalAuthorizedUser(authorizedUserFile{
		Account: tok.Email, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		QuotaProjectID: o.quotaProject, RefreshToken: tok.RefreshToken,
		TokenURI: tokenURIField(cfg.TokenURL), Type: "authorized_user", UniverseDomain: credentials.DefaultUniverseDomain,
	})
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if err := fileutil.WriteAtomic(out, data, 0o600); err != nil {
		return fmt.Errorf("login: write credentials to %s: %w", out, unwrapPathError(err))
	}
	who := tok.Email
	if who == "" {
		who = "you (no email: add the email scope to record the account)"
	}
	// The email is the ID token's claim: the token endpoint's words.
	fmt.Fprintf(app.Err, "Signed in as %s. Credentials saved to %s.\n", safetext.Escape(who), out)
	return nil
}

func (o *loginOptions) validate() (oauthflow.BrowserMode, error) {
	switch {
	case o.port < 0 || o.port > 65535:
		return 0, usagef("login: --port %d: want 1 to 65535 (or omit it for a free port)", o.port)
	case o.timeout <= 0:
		return 0, usagef("login: --timeout %v: want a positive duration, e.g. 5m", o.timeout)
	case o.noBrowser && o.paste:
		return 0, usagef("login: --no-browser and --paste exclude each other: --paste already opens no browser")
	case o.quotaProject != "" && strings.ContainsAny(o.quotaProject, " \t\n/"):
		return 0, usagef("login: --quota-project %q: want a project id, e.g. my-project", o.quotaProject)
	case o.paste:
		return oauthflow.Paste, nil
	case o.noBrowser:
		return oauthflow.PrintURL, nil
	}
	return oauthflow.OpenBrowser, nil
}

// config assembles the client and endpoints: flags, then the environment,
// then the client file, then Google's defaults.
func (o *loginOptions) config(ctx context.Context, app *App) (*oauthflow.Config, error) {
	emulator := app.Getenv(envEmulatorURL)
	var cfg *oauthflow.Config
	switch {
	case o.clientFile != "":
		c, err := readClientFile(ctx, o.clientFile)
		if err != nil {
			return nil, err
		}
		cfg = c.Config()
	case emulator != "":
		cfg = &oauthflow.Config{
			ClientID: fakegoogle.DefaultClientID, ClientSecret: fakegoogle.DefaultClientSecret,
			AuthURL: strings.TrimRight(emulator, "/") + "/o/oauth2/v2/auth", TokenURL: strings.TrimRight(emulator, "/") + "/token",
		}
	default:
		return nil, usagef("login: --client-id-file is required: create an OAuth client ID of type \"Desktop app\" in the Google Cloud console (APIs & Services, Credentials) and pass its JSON")
	}
	for _, u := range []struct {
		flag, env string
		val       *string
		dst       *string
	}{
		{"--auth-url", envAuthURL, &o.authURL, &cfg.AuthURL},
		{"--token-url", envGcloudToken, &o.tokenURL, &cfg.TokenURL},
	} {
		v, from := *u.val, u.flag
		if v == "" {
			v, from = app.Getenv(u.env), "$"+u.env
		}
		if v == "" {
			continue
		}
		if p, err := url.Parse(v); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, usagef("login: %s %q: want an absolute http(s) URL", from, v)
		}
		*u.dst = v
	}
	cfg.Scopes = credentials.UserScopes() // as `gcloud auth application-default login`
	if len(o.scopes) > 0 {
		cfg.Scopes = parseScopes(o.scopes)
	}
	// The code exchange posts the client secret and the PKCE verifier: no
	// redirect may take them to another origin.
	hc := app.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	cfg.HTTPClient = redirect.Guard(hc)
	return cfg, nil
}

// readClientFile reads and parses --client-id-file, bounded in size and by
// ctx like a credentials file.
func readClientFile(ctx context.Context, path string) (*oauthflow.Client, error) {
	data, err := fileutil.ReadFile(ctx, path, credsfile.MaxSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, usagef("login: --client-id-file %q: file does not exist", path)
	case errors.Is(err, fileutil.ErrIsDirectory):
		return nil, usagef("login: --client-id-file %q: is a directory, not an OAuth client JSON", path)
	case errors.Is(err, fileutil.ErrTooLarge):
		return nil, usagef("login: --client-id-file %q: %v; not an OAuth client JSON", path, err)
	case err != nil:
		return nil, usagef("login: --client-id-file %q: %v", path, unwrapPathError(err))
	}
	c, err := oauthflow.ParseClientJSON(data)
	if err != nil {
		return nil, credentialErrorf("login: --client-id-file %q: %v", path, err)
	}
	if c.Kind != oauthflow.KindInstalled {
		return nil, credentialErrorf("login: --client-id-file %q: is a %q (web application) client, whose redirects go only to its registered URLs; create a \"Desktop app\" client for gcptoken login", path, c.Kind)
	}
	return c, nil
}

// loginError says what went wrong in the user's terms; nothing is saved on
// any of these paths.
func loginError(o *loginOptions, err error) error {
	var ae *oauthflow.AuthorizationError
	var le *oauthflow.ListenError
	switch {
	case errors.As(err, &ae) && ae.Code == "access_denied":
		return credentialErrorf("login: access was denied in the browser (access_denied); nothing was saved")
	case errors.As(err, &ae):
		return credentialErrorf("login: the sign-in page refused the request: %v; nothing was saved", ae)
	case errors.Is(err, oauthflow.ErrStateMismatch):
		return credentialErrorf("login: the browser came back with a different state (a stale or forged redirect), so it was rejected; nothing was saved; run gcptoken login again")
	case errors.Is(err, oauthflow.ErrTimeout):
		return fmt.Errorf("login: timed out after %v waiting for the sign-in in the browser; nothing was saved (raise --timeout, or use --paste if the browser cannot reach this machine)", o.timeout)
	case errors.As(err, &le) && le.AddrInUse() && o.port != 0:
		return listenError("login: --port", strconv.Itoa(o.port), le.Err)
	case errors.As(err, &le):
		return listenError("login: the sign-in redirect on", le.Addr, le.Err)
	}
	return fmt.Errorf("login: %w; nothing was saved", err)
}

// adcOutputPath is the credentials file login writes and logout removes.
func adcOutputPath(app *App, path, flag string) (string, error) {
	if path != "" {
		return path, nil
	}
	p, err := credentials.WellKnownFile(&credentials.Options{Getenv: app.Getenv, HomeDir: app.Getenv("HOME")})
	if err != nil {
		return "", usagef("%s not given and %v; pass %s FILE", flag, err, flag)
	}
	return p, nil
}

// tokenURIField is the file's token_uri: empty for Google's endpoint, as
// gcloud writes it, else the endpoint, which gcptoken honours.
func tokenURIField(tokenURL string) string {
	if tokenURL == "" || tokenURL == oauthflow.DefaultTokenURL {
		return ""
	}
	return tokenURL
}

// authorizedUserFile is gcloud's ADC file: its fields in gcloud's (sorted)
// order.
type authorizedUserFile struct {
	Account        string `json:"account,omitempty"`
	ClientID       string `json:"client_id"`
	ClientSecret   string `json:"client_secret"`
	QuotaProjectID string `json:"quota_project_id,omitempty"`
	RefreshToken   string `json:"refresh_token"`
	TokenURI       string `json:"token_uri,omitempty"`
	Type           string `json:"type"`
	UniverseDomain string `json:"universe_domain"`
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// marshalAuthorizedUser encodes the file as gcloud does: two-space indent,
// trailing newline.
func marshalAuthorizedUser(f authorizedUserFile) ([]byte, error) {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode credentials: %w", err)
	}
	return append(data, '\n'), nil
}
