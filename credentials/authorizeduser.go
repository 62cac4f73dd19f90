package credentials

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/credsfile"
)

// authorizedUser mints tokens with the refresh-token grant.
type authorizedUser struct {
	refresher
	account  string
	universe string // the file's universe_domain; refresh is refused outside googleapis.com
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
	tokenEndpoint

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
				tokenEndpoint: tokenEndpoint{tokenURL: u, client: s.client, clientID: au.ClientID, clientSecret: au.ClientSecret},
				refreshToken:  au.RefreshToken,
			},
			account:     au.Account,
			universe:    universeOf(au.UniverseDomain),
			fingerprint: fingerprint("refresh token", au.RefreshToken),
		},
	}, nil
}

// refresh makes one refresh-token grant request, and keeps the refresh
// token the server sends in its place, if any.
func (r *refresher) refresh(ctx context.Context, op string, scopes []string) (*oauthAnswer, error) {
	r.mu.Lock()
	rt := r.refreshToken
	r.mu.Unlock()
	a, err := r.refreshGrant(ctx, op, rt, scopes)
	if err != nil {
		return nil, err
	}
	if next := a.RefreshToken; next != "" && next != rt {
		r.mu.Lock()
		r.refreshToken = next
		r.mu.Unlock()
	}
	return a, nil
}

// accessToken makes one refresh grant for an access token. Its expires_in
// is optional, as in Google's libraries: without one the token is fetched
// again on every use.
func (r *refresher) accessToken(ctx context.Context, scopes []string) (*gcptoken.Token, error) {
	a, err := r.refresh(ctx, opAccessToken, scopes)
	if err != nil {
		return nil, err
	}
	return r.reply(opAccessToken).accessToken(a, expiryRule{}, "")
}

func (au *authorizedUser) accessTokenProvider(scopes []string) (gcptoken.TokenProvider, error) {
	if !isDefaultUniverse(au.universe) {
		return nil, userRefreshRefused(au.universe)
	}
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		return au.accessToken(ctx, scopes)
	}), nil
}

// idTokenProvider ignores audience: a user's ID token is the one the refresh
// grant returns alongside the access token, and its aud is always the OAuth
// client id. The token's real aud is reported in Metadata so that callers can
// warn when it differs from what was asked. The format options are ignored
// too: only the metadata server can add Compute Engine claims.
func (au *authorizedUser) idTokenProvider(string, IDTokenOptions) (gcptoken.TokenProvider, error) {
	if !isDefaultUniverse(au.universe) {
		return nil, userRefreshRefused(au.universe)
	}
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		a, err := au.refresh(ctx, opIDToken, nil)
		if err != nil {
			return nil, err
		}
		if a.IDToken == "" {
			return nil, invalid(fmt.Sprintf("%s from %s", opIDToken, au.tokenURL), errors.New(
				"the refresh response has no id_token: the credential was not granted the openid scope; "+
					"sign in again with `gcloud auth application-default login`, which asks for it"))
		}
		return au.reply(opIDToken).jwt(a.IDToken)
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
