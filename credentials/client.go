package credentials

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/transport"
)

// HTTP clients of credentials. Package transport knows only token
// providers, as golang.org/x/oauth2's Transport knows only a TokenSource, so
// that a RoundTripper links no credential code; this is where credentials
// meet it.

// NewTransport returns a transport.Transport that adds the tokens req
// describes (nil: access tokens for the default scope; see TokenRequest) to
// the requests they may go to, as opts says (transport.Options; nil means
// its defaults). Tokens come from cached providers (ProviderFor); an
// ID-token request without an Audience gives each request a token for its
// own scheme://host, Cloud Run's audience, from one cached provider per
// audience. A Cloud Functions (1st gen) URL needs an explicit Audience: its
// audience is the whole function URL, path included; so does any service
// that expects a full URL or a non-URL audience (an IAP OAuth client id,
// say).
//
// opts' TokenProvider and ProviderForAudience must be unset, and its Kind
// and Audience, which NewTransport sets from req, unset or equal to req's.
// Its QuotaProject defaults to c's for access tokens. Credentials of a
// universe other than the client's (opts.UniverseDomain, else
// $GOOGLE_CLOUD_UNIVERSE_DOMAIN, else googleapis.com) are refused with a
// *UniverseMismatchError, as Google's transports do: their tokens mean
// nothing there, and sending them hands them to whoever runs that
// universe's endpoints.
func (c *Credentials) NewTransport(req *TokenRequest, opts *transport.Options) (*transport.Transport, error) {
	if c == nil || c.impl == nil {
		return nil, errNotLoaded
	}
	o, err := c.transportOptions(c.Resolve(req), opts)
	if err != nil {
		return nil, fmt.Errorf("credentials: NewTransport: %w", err)
	}
	return transport.NewTransport(o)
}

// NewClient returns an http.Client whose Transport is NewTransport(req,
// opts), and whose CheckRedirect never carries the token header to another
// origin (see transport.NewClient). It has no Timeout: bound requests with
// their contexts.
func (c *Credentials) NewClient(req *TokenRequest, opts *transport.Options) (*http.Client, error) {
	t, err := c.NewTransport(req, opts)
	if err != nil {
		return nil, err
	}
	return t.Client(), nil
}

// DefaultClient is NewClient of Application Default Credentials, found with
// Detect(ctx, nil): like golang.org/x/oauth2/google.DefaultClient, or
// google.golang.org/api/idtoken.NewClient with an ID-token req.
func DefaultClient(ctx context.Context, req *TokenRequest, opts *transport.Options) (*http.Client, error) {
	c, err := Detect(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("credentials: DefaultClient: find credentials: %w", err)
	}
	return c.NewClient(req, opts)
}

// transportOptions are opts with c's providers for req, and c's defaults.
func (c *Credentials) transportOptions(req TokenRequest, opts *transport.Options) (*transport.Options, error) {
	var o transport.Options
	if opts != nil {
		o = *opts
	}
	switch {
	case o.TokenProvider != nil || o.ProviderForAudience != nil:
		return nil, fmt.Errorf("transport.Options.TokenProvider and ProviderForAudience are set from the credentials: leave them unset")
	case o.Kind != "" && o.Kind != req.Kind:
		return nil, fmt.Errorf("transport.Options.Kind %q and TokenRequest.Kind %q differ", o.Kind, req.Kind)
	case o.Audience != "" && o.Audience != req.Audience:
		return nil, fmt.Errorf("transport.Options.Audience %q and TokenRequest.Audience %q differ", o.Audience, req.Audience)
	}
	if err := req.check(); err != nil {
		return nil, err
	}
	if err := c.CheckUniverseDomain(ClientUniverseDomain(o.UniverseDomain, nil)); err != nil {
		return nil, err
	}
	o.Kind, o.Audience = req.Kind, req.Audience
	if req.Kind == gcptoken.AccessToken && o.QuotaProject == "" {
		o.QuotaProject = c.QuotaProjectID
	}
	if req.Kind == gcptoken.IDToken && req.Audience == "" {
		o.ProviderForAudience = func(audience string) (gcptoken.TokenProvider, error) {
			r := req
			r.Audience = audience
			return c.ProviderFor(&r)
		}
		return &o, nil
	}
	tp, err := c.ProviderFor(&req)
	if err != nil {
		return nil, err
	}
	o.TokenProvider = tp
	return &o, nil
}
