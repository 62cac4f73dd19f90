package gcptoken

import (
	"context"
	"time"
)

// Kind says what a Token is for.
type Kind string

const (
	// AccessToken is an OAuth 2.0 access token for Google APIs.
	AccessToken Kind = "access_token"
	// IDToken is an OpenID Connect ID token (a Google-signed JWT) for a
	// target audience such as a Cloud Run service URL.
	IDToken Kind = "id_token"
)

// describe names the kind for messages: "access token", "ID token", or
// "token" when unset.
func (k Kind) describe() string {
	switch k {
	case AccessToken:
		return "access token"
	case IDToken:
		return "ID token"
	}
	return "token"
}

// Token is a bearer token with its expiry. It is used for access tokens and ID
// tokens alike; Kind tells which. A Token is immutable once returned.
type Token struct {
	// Value is the token itself, as sent after "Bearer ".
	Value string
	// Type is the token type, almost always "Bearer".
	Type string
	// Kind says whether Value is an access token or an ID token.
	Kind Kind
	// Expiry is when the token stops being accepted. Zero means unknown, which
	// the caching wrapper treats as "refresh on every call".
	Expiry time.Time
	// Metadata carries facts about the token that a source learned while
	// minting it, such as "scope" or "audience". Optional.
	Metadata map[string]string
}

// Metadata keys set by gcptoken's own sources.
const (
	// MetaScope is the space-separated list of scopes the server granted.
	MetaScope = "scope"
	// MetaAudience is the audience an ID token really carries. It may differ
	// from the audience asked for (user credentials cannot choose it).
	MetaAudience = "audience"
	// MetaIDToken is the ID token that came back alongside an access token
	// (the refresh grant returns one when "openid" was granted).
	MetaIDToken = "id_token"
)

// TokenType returns t.Type, defaulting to "Bearer".
func (t *Token) TokenType() string {
	if t == nil || t.Type == "" {
		return "Bearer"
	}
	return t.Type
}

// ExpiresWithin reports whether the token is missing, empty, or expires
// within d of now. A token without an expiry always reports true: its
// lifetime is unknown, so it must not be reused.
func (t *Token) ExpiresWithin(now time.Time, d time.Duration) bool {
	if t == nil || t.Value == "" || t.Expiry.IsZero() {
		return true
	}
	return !now.Add(d).Before(t.Expiry)
}

// Expired reports whether the token is unusable at now.
func (t *Token) Expired(now time.Time) bool {
	if t == nil || t.Value == "" {
		return true
	}
	return !t.Expiry.IsZero() && !now.Before(t.Expiry)
}

// TokenProvider is anything that returns a token. Implementations must be safe
// for concurrent use and must honour ctx for every request they make.
type TokenProvider interface {
	Token(ctx context.Context) (*Token, error)
}

// TokenProviderFunc adapts a function to TokenProvider.
type TokenProviderFunc func(ctx context.Context) (*Token, error)

// Token calls f(ctx).
func (f TokenProviderFunc) Token(ctx context.Context) (*Token, error) { return f(ctx) }
