package oauthflow

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/jwtinfo"
)

// Google's production endpoints.
const (
	// DefaultAuthURL is Google's authorization (consent) endpoint.
	DefaultAuthURL = "https://accounts.google.com/o/oauth2/v2/auth"
	// DefaultTokenURL is Google's OAuth 2.0 token endpoint.
	DefaultTokenURL = "https://oauth2.googleapis.com/token"
	// DefaultRevokeURL is Google's token revocation endpoint.
	DefaultRevokeURL = "https://oauth2.googleapis.com/revoke"
)

// Config is an OAuth client and the endpoints it talks to.
type Config struct {
	// ClientID is the OAuth client's id. Required.
	ClientID string
	// ClientSecret is the client's secret. Optional: sent when set (Google
	// issues one to desktop clients too).
	ClientSecret string
	// Scopes are asked for on the consent page. Required for sign-in;
	// full URLs, or openid, email, profile.
	Scopes []string
	// AuthURL is the authorization endpoint. Optional; default
	// DefaultAuthURL.
	AuthURL string
	// TokenURL is the token endpoint. Optional; default DefaultTokenURL.
	TokenURL string
	// RevokeURL is the revocation endpoint. Optional; default
	// DefaultRevokeURL.
	RevokeURL string
	// HTTPClient makes the token and revoke requests. Optional; the
	// default has a 30 s timeout (never http.DefaultClient, which has
	// none).
	HTTPClient *http.Client
}

var defaultHTTPClient = &http.Client{Timeout: 30 * time.Second}

func (c *Config) validate() error {
	if c == nil {
		return errors.New("oauthflow: Config is nil")
	}
	if c.ClientID == "" {
		return errors.New("oauthflow: Config.ClientID is required")
	}
	for _, u := range []struct{ name, v string }{{"AuthURL", c.AuthURL}, {"TokenURL", c.TokenURL}, {"RevokeURL", c.RevokeURL}} {
		if u.v == "" {
			continue
		}
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return fmt.Errorf("oauthflow: Config.%s %q: want an absolute http(s) URL", u.name, u.v)
		}
	}
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (c *Config) tokenURL() string  { return orDefault(c.TokenURL, DefaultTokenURL) }
func (c *Config) revokeURL() string { return orDefault(c.RevokeURL, DefaultRevokeURL) }

// oauth2Config is the golang.org/x/oauth2 view of c for one redirect URI.
func (c *Config) oauth2Config(redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		Scopes:       c.Scopes,
		RedirectURL:  redirectURI,
		Endpoint: oauth2.Endpoint{
			AuthURL:  orDefault(c.AuthURL, DefaultAuthURL),
			TokenURL: c.tokenURL(),
			// Google accepts both styles; naming one saves x/oauth2's
			// probing request with the other.
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// withClient puts the HTTP client where golang.org/x/oauth2 looks for it:
// its API takes the client only through the context.
func (c *Config) withClient(ctx context.Context) context.Context {
	hc := c.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient
	}
	return context.WithValue(ctx, oauth2.HTTPClient, hc)
}

// AuthParams are the optional parameters of Google's authorization URL.
type AuthParams struct {
	// Offline sets access_type=offline: the code exchange then returns a
	// refresh token.
	Offline bool
	// Prompt is Google's prompt parameter: "consent", "select_account",
	// "none", or a space-separated combination. Optional. Google returns a
	// refresh token only on first consent unless it is "consent".
	Prompt string
	// IncludeGrantedScopes asks for incremental authorization: the new
	// grant also covers scopes granted before.
	IncludeGrantedScopes bool
	// LoginHint preselects the account (an email address or sub).
	LoginHint string
}

// AuthCodeURL returns the authorization URL for redirectURI with state and
// the PKCE S256 challenge of verifier.
func (c *Config) AuthCodeURL(redirectURI, state, verifier string, p AuthParams) string {
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if p.Offline {
		opts = append(opts, oauth2.AccessTypeOffline)
	}
	if p.Prompt != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", p.Prompt))
	}
	if p.IncludeGrantedScopes {
		opts = append(opts, oauth2.SetAuthURLParam("include_granted_scopes", "true"))
	}
	if p.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", p.LoginHint))
	}
	return c.oauth2Config(redirectURI).AuthCodeURL(state, opts...)
}

// Token is the result of a code exchange or refresh.
type Token struct {
	*oauth2.Token
	// IDToken is the OpenID Connect ID token, present when the openid scope
	// was granted.
	IDToken string
	// Scopes are the scopes the server says it granted.
	Scopes []string
	// Email is the email claim of IDToken, when present. It is read
	// without verifying the signature: use it as a label, not for
	// authorization decisions (verify IDToken for that).
	Email string
}

func newToken(t *oauth2.Token) *Token {
	out := &Token{Token: t}
	if s, ok := t.Extra("id_token").(string); ok {
		out.IDToken = s
		if d, err := jwtinfo.Decode(s); err == nil {
			if e, ok := d.Claims["email"].(string); ok {
				out.Email = e
			}
		}
	}
	if s, ok := t.Extra("scope").(string); ok {
		out.Scopes = strings.Fields(s)
	}
	return out
}

// Exchange trades an authorization code for tokens (grant_type
// authorization_code), sending the PKCE verifier. redirectURI must be the
// one the authorization URL named.
func (c *Config) Exchange(ctx context.Context, code, redirectURI, verifier string) (*Token, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	t, err := c.oauth2Config(redirectURI).Exchange(c.withClient(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, endpointError("exchange authorization code", c.tokenURL(), err)
	}
	return newToken(t), nil
}

// Refresh gets a new access token with a refresh token.
func (c *Config) Refresh(ctx context.Context, refreshToken string) (*Token, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if refreshToken == "" {
		return nil, errors.New("oauthflow: refresh: empty refresh token")
	}
	ts := c.oauth2Config("").TokenSource(c.withClient(ctx), &oauth2.Token{RefreshToken: refreshToken})
	t, err := ts.Token()
	if err != nil {
		return nil, endpointError("refresh access token", c.tokenURL(), err)
	}
	return newToken(t), nil
}

// Revoke revokes a refresh or access token; Google then revokes the whole
// grant. golang.org/x/oauth2 has no revocation call, hence this one.
func (c *Config) Revoke(ctx context.Context, token string) error {
	if err := c.validate(); err != nil {
		return err
	}
	u := c.revokeURL()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := c.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL
		}
		return gcptoken.NewTransportError("revoke token", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return gcptoken.NewResponseError("revoke token", u, resp.StatusCode, body)
	}
	return nil
}

// endpointError turns golang.org/x/oauth2's errors into *gcptoken.Error, so
// callers can tell a refused code (invalid_grant) from an outage.
func endpointError(op, endpoint string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return gcptoken.NewResponseError(op, endpoint, re.Response.StatusCode, re.Body)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return gcptoken.NewTransportError(op, endpoint, ue.Err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// randomState returns 32 random bytes, base64url: an unguessable state.
func randomState() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
