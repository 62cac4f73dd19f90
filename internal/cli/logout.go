package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/internal/credsfile"
	"github.com/gcptoken/gcptoken/internal/diskcache"
	"github.com/gcptoken/gcptoken/internal/safetext"
	"github.com/gcptoken/gcptoken/oauthflow"
)

// envRevokeURL overrides where logout revokes.
const envRevokeURL = "GCPTOKEN_REVOKE_URL"

type logoutOptions struct {
	file      string
	revokeURL string
	noRevoke  bool
}

func newLogoutCmd(app *App) *cobra.Command {
	o := &logoutOptions{}
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Revoke the signed-in user's refresh token, remove the credentials file and its cached tokens",
		Long: `Revoke the refresh token of an authorized_user credentials file (as written
by 'gcptoken login' or 'gcloud auth application-default login') at Google's
revocation endpoint, then remove the file and every token cached for that
user (all scopes, ID tokens, impersonated service accounts). Like 'gcloud
auth application-default revoke'.

If the revocation fails (network, server error) the file is kept, so that
nothing is left valid but forgotten; --no-revoke removes it without asking.`,
		Example: `  gcptoken logout
  gcptoken logout --credentials ./user.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return logoutRun(cmd.Context(), app, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.file, "credentials", "", "the authorized_user `FILE` (default gcloud's application_default_credentials.json)")
	f.StringVar(&o.revokeURL, "revoke-url", "", "revocation endpoint `URL` (default $"+envRevokeURL+", else derived from the file's token_uri, else Google's)")
	f.BoolVar(&o.noRevoke, "no-revoke", false, "only remove the file; the refresh token stays valid until revoked elsewhere")
	bindTimeout(cmd, app, 0)
	return cmd
}

func logoutRun(ctx context.Context, app *App, o *logoutOptions) error {
	path, err := adcOutputPath(app, o.file, "--credentials")
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return credentialErrorf("logout: no credentials file at %s: nothing to log out (pass --credentials FILE for another file)", path)
	case err != nil:
		return fmt.Errorf("logout: read %s: %w", path, unwrapPathError(err))
	case len(data) > credsfile.MaxSize:
		return credentialErrorf("logout: %s is %d bytes: not a credentials file", path, len(data))
	}
	var f struct {
		Type         string `json:"type"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		RefreshToken string `json:"refresh_token"`
		TokenURI     string `json:"token_uri"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return credentialErrorf("logout: %s is not a JSON credentials file; it was left in place", path)
	}
	if f.Type != credsfile.TypeAuthorizedUser {
		return credentialErrorf("logout: %s is a %q credential, not a user sign-in (authorized_user); it was left in place", path, f.Type)
	}
	if !o.noRevoke {
		if f.RefreshToken == "" {
			return credentialErrorf("logout: %s has no refresh_token to revoke; remove it with --no-revoke", path)
		}
		revoke, err := o.revokeEndpoint(app, f.TokenURI)
		if err != nil {
			return err
		}
		cfg := &oauthflow.Config{ClientID: f.ClientID, ClientSecret: f.ClientSecret, RevokeURL: revoke, HTTPClient: app.HTTPClient}
		if cfg.ClientID == "" {
			cfg.ClientID = "unused" // revocation needs no client; Config does
		}
		err = cfg.Revoke(ctx, f.RefreshToken)
		var ge *gcptoken.Error
		switch {
		case errors.As(err, &ge) && ge.Code == "invalid_token":
			fmt.Fprintln(app.Err, "The refresh token was already revoked or expired.")
		case err != nil:
			return fmt.Errorf("logout: %w; %s was kept (retry, or remove it with --no-revoke)", err, path)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("logout: remove %s: %w", path, unwrapPathError(err))
	}
	if o.noRevoke {
		fmt.Fprintf(app.Err, "Removed %s (the refresh token was not revoked).\n", path)
	} else {
		fmt.Fprintf(app.Err, "Revoked the refresh token and removed %s.\n", path)
	}
	forgetUserTokens(app, data)
	return nil
}

// forgetUserTokens drops from the token cache every token minted with the
// signed-in user's credential — all scopes, ID tokens, and tokens of service
// accounts it impersonated — so that no command serves them after logout.
// Revocation makes them worthless, and after --no-revoke the user asked to
// be signed out all the same. Failures are warnings: the sign-out itself
// happened.
func forgetUserTokens(app *App, data []byte) {
	creds, err := credentials.FromJSON(data, &credentials.Options{Getenv: app.Getenv, HTTPClient: app.HTTPClient})
	if err != nil {
		return // a file no command could load has no cached tokens
	}
	dir, err := cacheDir(app)
	if err != nil {
		return
	}
	n, err := (&diskcache.Cache{Dir: dir}).ForgetOwner(creds.RootIdentity())
	if err != nil {
		fmt.Fprintf(app.Err, "gcptoken: warning: token cache: %s; run 'gcptoken cache clear'\n", safetext.OneLine(err.Error()))
	}
	if n > 0 {
		fmt.Fprintf(app.Err, "Removed %d cached token(s) of this user.\n", n)
	}
}

// revokeEndpoint picks the revocation URL: --revoke-url, $GCPTOKEN_REVOKE_URL,
// the token endpoint's sibling "/revoke" for a non-Google token_uri (the
// emulator), else Google's.
func (o *logoutOptions) revokeEndpoint(app *App, tokenURI string) (string, error) {
	v, from := o.revokeURL, "--revoke-url"
	if v == "" {
		v, from = app.Getenv(envRevokeURL), "$"+envRevokeURL
	}
	if v != "" {
		if p, err := url.Parse(v); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return "", usagef("logout: %s %q: want an absolute http(s) URL", from, v)
		}
		return v, nil
	}
	switch {
	case tokenURI == "" || tokenURI == oauthflow.DefaultTokenURL || tokenURI == "https://accounts.google.com/o/oauth2/token":
		return oauthflow.DefaultRevokeURL, nil
	case strings.HasSuffix(tokenURI, "/token"):
		return strings.TrimSuffix(tokenURI, "/token") + "/revoke", nil
	}
	return "", usagef("logout: cannot tell the revocation endpoint of token_uri %q; pass --revoke-url", tokenURI)
}
