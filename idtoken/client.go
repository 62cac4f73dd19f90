package idtoken

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/transport"
)

// ClientOptions configures NewClient and NewTokenSource. Every field is
// optional.
type ClientOptions struct {
	// Credentials mint the ID tokens. Optional; default Application
	// Default Credentials, found with credentials.Detect. (For a file, use
	// credentials.FromFile; Google's option.WithCredentialsFile.)
	Credentials *credentials.Credentials
	// IDTokenOptions shape the tokens: the metadata server's format, the
	// email claims of impersonated credentials. Optional.
	IDTokenOptions *credentials.IDTokenOptions
	// Header is the header NewClient puts the token in:
	// transport.HeaderAuthorization (the default) or
	// transport.HeaderServerlessAuthorization. NewTokenSource refuses it.
	Header string
	// Base sends NewClient's requests. Optional; default a clone of
	// http.DefaultTransport. NewTokenSource refuses it.
	Base http.RoundTripper
}

// clientOptions takes the optional *ClientOptions of NewClient and
// NewTokenSource: variadic so that NewClient(ctx, audience) reads as
// Google's, at most one.
func clientOptions(fn string, opts []*ClientOptions) (ClientOptions, error) {
	var o ClientOptions
	switch {
	case len(opts) > 1:
		return o, fmt.Errorf("idtoken: %s takes at most one *ClientOptions; got %d", fn, len(opts))
	case len(opts) == 1 && opts[0] != nil:
		o = *opts[0]
	}
	return o, nil
}

// errEmptyAudience is the error for what Google's NewClient also refuses.
func errEmptyAudience(fn string) error {
	return fmt.Errorf("idtoken: %s: the audience is empty; give the URL of the service to call (for Cloud Run, "+
		"https://SERVICE-HASH-REGION.a.run.app), or use credentials.DefaultClient with an ID-token TokenRequest for one audience per request host", fn)
}

// NewClient returns an HTTP client that sends an ID token for audience
// with every request, like google.golang.org/api/idtoken.NewClient: tokens
// are cached and renewed before they expire, and sent only to audience's
// host, over https (or http to loopback), never across a redirect to
// another origin (see package transport). opts is at most one
// *ClientOptions.
func NewClient(ctx context.Context, audience string, opts ...*ClientOptions) (*http.Client, error) {
	o, err := clientOptions("NewClient", opts)
	if err != nil {
		return nil, err
	}
	if audience == "" {
		return nil, errEmptyAudience("NewClient")
	}
	tokens, err := o.tokens(ctx, audience)
	if err != nil {
		return nil, fmt.Errorf("idtoken: NewClient: %w", err)
	}
	return transport.NewClient(&transport.Options{
		TokenProvider: tokens, Kind: gcptoken.IDToken, Audience: audience, Header: o.Header, Base: o.Base,
	})
}

// NewTokenSource returns an oauth2.TokenSource of ID tokens for audience,
// cached and renewed before they expire, like
// google.golang.org/api/idtoken.NewTokenSource: each oauth2.Token's
// AccessToken is the ID token. ctx bounds finding the credentials and,
// since oauth2.TokenSource has no context, every later token request, as
// with Google's: pass one that lives as long as the source. opts is at
// most one *ClientOptions.
func NewTokenSource(ctx context.Context, audience string, opts ...*ClientOptions) (oauth2.TokenSource, error) {
	o, err := clientOptions("NewTokenSource", opts)
	if err != nil {
		return nil, err
	}
	switch {
	case audience == "":
		return nil, errEmptyAudience("NewTokenSource")
	case o.Header != "" || o.Base != nil:
		return nil, errors.New("idtoken: NewTokenSource: ClientOptions.Header and Base are for NewClient")
	}
	tokens, err := o.tokens(ctx, audience)
	if err != nil {
		return nil, fmt.Errorf("idtoken: NewTokenSource: %w", err)
	}
	return gcptoken.OAuth2TokenSource(ctx, tokens), nil
}

// tokens finds the credentials and returns their cached provider of ID
// tokens for audience.
func (o *ClientOptions) tokens(ctx context.Context, audience string) (gcptoken.TokenProvider, error) {
	creds := o.Credentials
	if creds == nil {
		c, err := credentials.Detect(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("find credentials: %w", err)
		}
		creds = c
	}
	return creds.IDTokenProvider(audience, o.IDTokenOptions)
}
