package credentials

import (
	"context"
	"errors"

	"cloud.google.com/go/auth"
	"golang.org/x/oauth2"

	"github.com/gcptoken/gcptoken"
)

// AuthCredentials returns c as cloud.google.com/go/auth Credentials, the
// type every Google Cloud client library takes (option.WithAuthCredentials;
// httptransport.Options.Credentials): access tokens for scopes from
// AccessTokenProvider (cached; empty scopes as there), and c's ProjectID,
// QuotaProjectID and UniverseDomain, which the libraries read for the
// default project, the X-Goog-User-Project header and the endpoints'
// domain.
//
// Google APIs take access tokens only: a token of Kind gcptoken.IDToken is
// refused with an error rather than sent. The credential's JSON is not
// passed on (auth.Credentials.JSON is nil), so a library that would read a
// private key from it (Cloud Storage's SignedURL) must be given the key or
// a signer explicitly.
func (c *Credentials) AuthCredentials(scopes []string) (*auth.Credentials, error) {
	tokens, err := c.AccessTokenProvider(scopes)
	if err != nil {
		return nil, err
	}
	property := func(v string) auth.CredentialsPropertyProvider {
		return auth.CredentialsPropertyFunc(func(context.Context) (string, error) { return v, nil })
	}
	return auth.NewCredentials(&auth.CredentialsOptions{
		TokenProvider:          gcptoken.AuthTokenProvider(accessTokensOnly{tokens}),
		ProjectIDProvider:      property(c.ProjectID),
		QuotaProjectIDProvider: property(c.QuotaProjectID),
		UniverseDomainProvider: property(c.UniverseDomain),
	}), nil
}

// TokenSource returns c's access tokens for scopes as a golang.org/x/oauth2
// TokenSource (cached, as AccessTokenProvider's; empty scopes as there), for
// code built on oauth2.NewClient or option.WithTokenSource. ctx is used for
// every token request, as oauth2.TokenSource has no context parameter:
// give it one that lives as long as the source, usually
// context.Background(). A token of Kind gcptoken.IDToken is refused, as by
// AuthCredentials.
func (c *Credentials) TokenSource(ctx context.Context, scopes []string) (oauth2.TokenSource, error) {
	tokens, err := c.AccessTokenProvider(scopes)
	if err != nil {
		return nil, err
	}
	return gcptoken.OAuth2TokenSource(ctx, accessTokensOnly{tokens}), nil
}

// errIDTokenForAPI is what the bridges answer instead of sending an ID
// token where Google APIs expect an access token.
var errIDTokenForAPI = errors.New("credentials: the provider returned an ID token; Google API clients take access tokens " +
	"(an ID token is for calling a service such as Cloud Run: see idtoken.NewClient)")

// accessTokensOnly refuses tokens that say they are ID tokens.
type accessTokensOnly struct{ tp gcptoken.TokenProvider }

func (a accessTokensOnly) Token(ctx context.Context) (*gcptoken.Token, error) {
	t, err := a.tp.Token(ctx)
	if err != nil {
		return nil, err
	}
	if t.Kind == gcptoken.IDToken {
		return nil, errIDTokenForAPI
	}
	return t, nil
}
