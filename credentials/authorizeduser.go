package credentials

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/auth"
	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/credsfile"
)

// googleAuthURL is never contacted: auth.Options3LO merely requires one.
const googleAuthURL = "https://accounts.google.com/o/oauth2/auth"

// authorizedUser mints tokens with the refresh-token grant
// (cloud.google.com/go/auth's 3LO provider).
type authorizedUser struct {
	refresher
	account string
	// fingerprint is that of the refresh token from the file (snapshot.go);
	// it stays the same when the server rotates the token, so cache keys
	// do too.
	fingerprint string
}

// refresher makes refresh-token grant requests for one OAuth client and
// keeps the refresh token current when the server rotates it. It serves
// authorized_user files (Google's token endpoint, client in the body) and
// external_account_authorized_user files (STS, client_secret_basic).
type refresher struct {
	clientID     string
	clientSecret string
	tokenURL     string
	style        auth.Style
	client       *http.Client

	mu           sync.Mutex
	refreshToken string // the latest; the server may rotate it
}

func newAuthorizedUser(f *credsfile.File, s *settings) (*Credentials, error) {
	var au credsfile.AuthorizedUser
	if err := f.Decode(&au); err != nil {
		return nil, err
	}
	for _, r := range []struct{ field, v string }{
		{"client_id", au.ClientID},
		{"client_secret", au.ClientSecret},
		{"refresh_token", au.RefreshToken},
	} {
		if r.v == "" {
			return nil, missing(r.field, au.Type)
		}
	}
	u, err := tokenURL(s, au.TokenURI, au.UniverseDomain)
	if err != nil {
		return nil, err
	}
	return &Credentials{
		Type:           TypeAuthorizedUser,
		Principal:      au.Account,
		ClientID:       au.ClientID,
		QuotaProjectID: au.QuotaProjectID,
		UniverseDomain: au.UniverseDomain,
		impl: &authorizedUser{
			refresher: refresher{
				clientID:     au.ClientID,
				clientSecret: au.ClientSecret,
				tokenURL:     u,
				style:        auth.StyleInParams,
				client:       s.client,
				refreshToken: au.RefreshToken,
			},
			account:     au.Account,
			fingerprint: fingerprint("refresh token", au.RefreshToken),
		},
	}, nil
}

// refresh makes one refresh-token grant request.
//
// auth.New3LOTokenProvider always wraps its provider in auth's own cache,
// but caching is the root package's job alone. So every call builds a new
// provider, whose empty cache forces exactly one request. (The brief's
// alternative, one provider with a huge EarlyTokenExpiry, fails when the
// server sends no expires_in: auth treats a zero expiry as "fresh forever"
// and would never ask again.) DisableAsyncRefresh and the early expiry are
// belt and braces: they keep auth from ever refreshing in the background
// with context.Background() or handing back a cached token.
func (r *refresher) refresh(ctx context.Context, op string, scopes []string) (*auth.Token, error) {
	r.mu.Lock()
	rt := r.refreshToken
	r.mu.Unlock()
	var params url.Values
	if len(scopes) > 0 {
		// auth sends Options3LO.Scopes only to the consent page, not with
		// the refresh grant; the grant's "scope" must go in URLParams.
		params = url.Values{"scope": {strings.Join(scopes, " ")}}
	}
	tp, err := auth.New3LOTokenProvider(&auth.Options3LO{
		ClientID:            r.clientID,
		ClientSecret:        r.clientSecret,
		RefreshToken:        rt,
		AuthURL:             googleAuthURL,
		TokenURL:            r.tokenURL,
		AuthStyle:           r.style,
		URLParams:           params,
		Client:              r.client,
		DisableAsyncRefresh: true,
		EarlyTokenExpiry:    365 * 24 * time.Hour,
		Logger:              discardLogger,
	})
	if err != nil {
		return nil, err
	}
	t, err := tp.Token(ctx)
	if err != nil {
		return nil, gcptoken.FromAuthError(op, r.tokenURL, err)
	}
	if next := t.MetadataString("refresh_token"); next != "" && next != rt {
		r.mu.Lock()
		r.refreshToken = next
		r.mu.Unlock()
	}
	return t, nil
}

func (au *authorizedUser) accessTokenProvider(scopes []string) (gcptoken.TokenProvider, error) {
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		t, err := au.refresh(ctx, opAccessToken, scopes)
		if err != nil {
			return nil, err
		}
		return accessToken(t, opAccessToken, au.tokenURL)
	}), nil
}

// idTokenProvider ignores audience: a user's ID token is the one the refresh
// grant returns alongside the access token, and its aud is always the OAuth
// client id. The token's real aud is reported in Metadata so that callers can
// warn when it differs from what was asked. The format options are ignored
// too: only the metadata server can add Compute Engine claims.
func (au *authorizedUser) idTokenProvider(string, IDTokenOptions) (gcptoken.TokenProvider, error) {
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		t, err := au.refresh(ctx, opIDToken, nil)
		if err != nil {
			return nil, err
		}
		id := t.MetadataString("id_token")
		if id == "" {
			return nil, invalid(fmt.Sprintf("%s from %s", opIDToken, au.tokenURL), errors.New(
				"the refresh response has no id_token: the credential was not granted the openid scope; "+
					"sign in again with `gcloud auth application-default login`, which asks for it"))
		}
		return idToken(id, opIDToken, au.tokenURL)
	}), nil
}

// identity is the type, the OAuth client, the account and a fingerprint of
// the refresh token. The fingerprint is needed because gcloud's
// ADC files often have no "account", and every gcloud user shares gcloud's
// client id: without it, two users' tokens would share a cache key. It is a
// one-way hash of a high-entropy secret, so it reveals nothing usable.
func (au *authorizedUser) identity() string {
	return TypeAuthorizedUser + "|" + au.clientID + "|" + au.account + "|fp:" + au.fingerprint
}

func (au *authorizedUser) tokenEndpoints() []string { return []string{au.tokenURL} }
