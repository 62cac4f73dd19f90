package credentials

import (
	"context"
	"errors"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/credsfile"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// externalAccountUser is a workforce user's credential
// (external_account_authorized_user, protocol.md §7.3, §8.6): the
// refresh-token grant at the file's token_url (STS's /v1/oauthtoken), with
// the OAuth client in HTTP Basic, through the refresher of authorized_user.
type externalAccountUser struct {
	refresher   // STS /v1/oauthtoken with client_secret_basic
	audience    string
	fingerprint string // of the file's refresh token, for identity
}

func newExternalAccountUser(f *credsfile.File, s *settings) (*Credentials, error) {
	var u credsfile.ExternalAccountAuthorizedUser
	if err := f.Decode(&u); err != nil {
		return nil, err
	}
	for _, r := range []struct{ field, v string }{
		{"refresh_token", u.RefreshToken},
		{"token_url", u.TokenURL},
		{"client_id", u.ClientID},
		{"client_secret", u.ClientSecret},
	} {
		if r.v == "" {
			return nil, missing(r.field, u.Type)
		}
	}
	if err := endpoints.CheckURL(u.TokenURL); err != nil {
		return nil, &credsfile.FieldError{Field: "token_url", Err: err}
	}
	return &Credentials{
		Type:           TypeExternalAccountAuthorizedUser,
		ClientID:       u.ClientID,
		QuotaProjectID: u.QuotaProjectID,
		UniverseDomain: u.UniverseDomain,
		impl: &externalAccountUser{
			refresher: refresher{
				tokenEndpoint: tokenEndpoint{tokenURL: s.ends.Rewrite(u.TokenURL), client: s.client,
					clientID: u.ClientID, clientSecret: u.ClientSecret, basicAuth: true},
				refreshToken: u.RefreshToken,
			},
			audience: u.Audience, fingerprint: fingerprint("refresh token", u.RefreshToken),
		},
	}, nil
}

// accessTokenProvider makes one refresh grant per call (see
// refresher.refresh). Scopes are those of the sign-in; STS's refresh takes
// none.
func (u *externalAccountUser) accessTokenProvider([]string) (gcptoken.TokenProvider, error) {
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		return u.accessToken(ctx, nil)
	}), nil
}

func (u *externalAccountUser) idTokenProvider(string, IDTokenOptions) (gcptoken.TokenProvider, error) {
	return nil, invalid("credentials", errors.New("external_account_authorized_user (workforce user) credentials cannot make ID tokens: "+
		"STS refreshes access tokens only"))
}

func (u *externalAccountUser) identity() string {
	return TypeExternalAccountAuthorizedUser + "|" + u.audience + "|" + u.clientID + "|" + u.tokenURL + "|fp:" + u.fingerprint
}

func (u *externalAccountUser) tokenEndpoints() []string { return []string{u.tokenURL} }
