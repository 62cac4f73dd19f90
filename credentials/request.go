package credentials

import (
	"errors"
	"fmt"
	"slices"

	"github.com/gcptoken/gcptoken"
)

// TokenRequest says which token a caller wants of a Credentials. It is the
// one description of a token that the CLI, the proxy and the HTTP clients
// (Credentials.NewClient) give, so that its defaults are decided here once. A nil
// *TokenRequest asks for an access token for the default scopes.
type TokenRequest struct {
	// Kind is gcptoken.AccessToken or gcptoken.IDToken. Optional; default
	// gcptoken.AccessToken.
	Kind gcptoken.Kind
	// Scopes are an access token's (or a self-signed JWT's) OAuth scopes.
	// Optional; default DefaultScope, asked for explicitly even of the
	// metadata server (whose own default would be its instance's scopes),
	// except for authorized_user credentials: a user's token carries the
	// scopes granted at sign-in, and asking for one not granted fails.
	Scopes []string
	// Audience is an ID token's audience (required for ID tokens), or a
	// self-signed JWT's aud.
	Audience string
	// IDTokenOptions shape ID tokens: the metadata server's format and
	// licenses, the email claims of impersonated credentials.
	IDTokenOptions
	// SelfSigned makes the access token a JWT signed locally with a
	// service-account key, for Audience or for Scopes (see
	// SelfSignedJWTSource): no token endpoint is involved, and no scope is
	// defaulted.
	SelfSigned bool
}

// Resolve returns req with c's defaults filled in: the token SourceFor and
// ProviderFor make, and what a cache of its tokens should key them by. req may
// be nil.
func (c *Credentials) Resolve(req *TokenRequest) TokenRequest {
	var r TokenRequest
	if req != nil {
		r = *req
		r.Scopes = slices.Clone(req.Scopes)
	}
	if r.Kind == "" {
		r.Kind = gcptoken.AccessToken
	}
	if r.Kind == gcptoken.AccessToken && !r.SelfSigned && len(r.Scopes) == 0 && c.Type != TypeAuthorizedUser {
		r.Scopes = []string{DefaultScope}
	}
	return r
}

// SourceFor returns a plain source of the token req describes (each Token
// call makes one request; see AccessTokenSource), after Resolve.
func (c *Credentials) SourceFor(req *TokenRequest) (gcptoken.TokenProvider, error) {
	if c == nil || c.impl == nil {
		return nil, errNotLoaded
	}
	r := c.Resolve(req)
	if err := r.check(); err != nil {
		return nil, err
	}
	switch {
	case r.SelfSigned:
		return c.SelfSignedJWTSource(r.Audience, r.Scopes)
	case r.Kind == gcptoken.IDToken:
		return c.IDTokenSource(r.Audience, &r.IDTokenOptions)
	}
	return c.AccessTokenSource(r.Scopes)
}

// check refuses a request that mixes the fields of different tokens. The
// audience an ID token needs is checked later: NewTransport's requests
// leave it to each request's host.
func (r *TokenRequest) check() error {
	switch {
	case r.Kind != gcptoken.AccessToken && r.Kind != gcptoken.IDToken:
		return fmt.Errorf("credentials: TokenRequest.Kind %q: want %q or %q", r.Kind, gcptoken.AccessToken, gcptoken.IDToken)
	case r.SelfSigned && r.Kind == gcptoken.IDToken:
		return errors.New("credentials: TokenRequest.SelfSigned makes access tokens; an ID token comes from its issuer")
	case r.Kind == gcptoken.IDToken && len(r.Scopes) > 0:
		return errors.New("credentials: TokenRequest.Scopes are for access tokens; an ID token has an Audience")
	case r.Kind == gcptoken.AccessToken && !r.SelfSigned && r.Audience != "":
		return errors.New("credentials: TokenRequest.Audience is for ID tokens and self-signed JWTs; an access token has Scopes")
	}
	return r.IDTokenOptions.validate()
}

// ProviderFor is SourceFor, cached as AccessTokenProvider's tokens are.
func (c *Credentials) ProviderFor(req *TokenRequest) (gcptoken.TokenProvider, error) {
	src, err := c.SourceFor(req)
	if err != nil {
		return nil, err
	}
	return gcptoken.NewCachedProvider(src, nil)
}
