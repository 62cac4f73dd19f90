package transport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// Transport is an http.RoundTripper that adds a Google bearer token to each
// request it may go to (see the package documentation). It is safe for
// concurrent use. Make one with NewTransport.
type Transport struct {
	base   http.RoundTripper
	kind   gcptoken.Kind
	what   string // "an access token" or "an ID token", for errors
	header string
	quota  string // X-Goog-User-Project; access tokens only
	policy policy

	// Exactly one of these is set.
	tokens    gcptoken.TokenProvider // one audience (or access token) for all
	audiences *audienceCache         // audience = each request's origin
}

// NewTransport validates opts and returns a Transport. It fetches no token:
// the first request does.
func NewTransport(opts *Options) (*Transport, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	t := &Transport{
		base:   o.Base,
		kind:   cmp.Or(o.Kind, gcptoken.AccessToken),
		what:   "an access token",
		header: canonicalHeader(o.Header),
		policy: policy{allowHTTP: o.AllowHTTP},
	}
	if t.base == nil {
		t.base = defaultBase()
	}
	if t.kind == gcptoken.IDToken {
		t.what = "an ID token"
	} else {
		t.quota = o.QuotaProject
	}
	if o.ProviderForAudience != nil {
		t.audiences = newAudienceCache(maxAudiences, func(aud string) (gcptoken.TokenProvider, error) {
			tp, err := o.ProviderForAudience(aud)
			if err != nil {
				return nil, err
			}
			return gcptoken.NewCachedProvider(tp, nil)
		})
	} else {
		var err error
		if t.tokens, err = gcptoken.NewCachedProvider(o.TokenProvider, nil); err != nil {
			return nil, fmt.Errorf("transport: %w", err)
		}
	}
	t.policy.patterns, t.policy.why = o.allowedHosts(t.kind)
	return t, nil
}

// allowedHosts are the hosts that may receive tokens, and why, for errors.
func (o *Options) allowedHosts(kind gcptoken.Kind) ([]pattern, string) {
	switch {
	case len(o.AllowedHosts) > 0:
		var patterns []pattern
		for _, h := range o.AllowedHosts {
			p, _ := parsePattern(h) // validated
			patterns = append(patterns, p)
		}
		return patterns, "Options.AllowedHosts"
	case kind == gcptoken.AccessToken:
		universe := endpoints.ClientUniverse(o.UniverseDomain, nil)
		return []pattern{{wildcard: true, host: canonicalHost(universe)}},
			"the default for access tokens: the universe domain's hosts; set Options.AllowedHosts to change it"
	case o.Audience != "":
		p, _ := audienceOrigin(o.Audience) // validated
		return []pattern{p}, "the default for ID tokens: the audience's host; set Options.AllowedHosts to change it"
	}
	return []pattern{{any: true}}, "any host, each with a token for itself"
}

// defaultBase returns a clone of http.DefaultTransport, so that closing idle
// connections or tuning one client affects no other.
func defaultBase() http.RoundTripper {
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		return dt.Clone()
	}
	return http.DefaultTransport
}

// RoundTrip implements http.RoundTripper. It never modifies req: the token
// goes on a clone. When a token is needed but cannot be had, or may not be
// sent to req's URL, it returns an error and does not send the request;
// req.Body is closed either way, as the RoundTripper contract requires.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.base == nil {
		// A Transport{} literal: it has no tokens and no policy.
		closeBody(req)
		return nil, errors.New("transport: a Transport must be made with NewTransport (or NewClient); this one is a zero value")
	}
	if req.URL == nil || req.URL.Host == "" {
		closeBody(req)
		return nil, errors.New("transport: request URL has no host")
	}
	if leftOrigin(req) {
		// A server chose this hop's target. Whoever set the header
		// (net/http copies the caller's Authorization to subdomains and
		// other ports), it stays behind.
		if _, ok := req.Header[t.header]; ok {
			req = req.Clone(req.Context())
			req.Header.Del(t.header)
		}
		return t.base.RoundTrip(req)
	}
	if _, ok := req.Header[t.header]; ok {
		return t.base.RoundTrip(req) // the caller's own credentials
	}

	o := originOfURL(req.URL)
	if err := t.policy.check(o, t.what); err != nil {
		closeBody(req)
		return nil, err
	}
	tok, err := t.token(req.Context(), o)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	r2 := req.Clone(req.Context())
	if r2.Header == nil {
		r2.Header = http.Header{}
	}
	r2.Header.Set(t.header, tok.TokenType()+" "+tok.Value)
	if t.quota != "" && len(r2.Header.Values(HeaderQuotaProject)) == 0 {
		r2.Header.Set(HeaderQuotaProject, t.quota)
	}
	return t.base.RoundTrip(r2)
}

// token returns the token for a request to o, waiting at most as long as
// ctx allows.
func (t *Transport) token(ctx context.Context, o origin) (*gcptoken.Token, error) {
	tokens, aud := t.tokens, ""
	if t.audiences != nil {
		aud = o.audience()
		var err error
		if tokens, err = t.audiences.get(aud); err != nil {
			return nil, fmt.Errorf("transport: ID tokens for audience %q: %w", aud, err)
		}
	}
	tok, err := tokens.Token(ctx)
	switch {
	case err != nil && aud != "":
		return nil, fmt.Errorf("transport: get an ID token for audience %q: %w", aud, err)
	case err != nil:
		return nil, fmt.Errorf("transport: get %s: %w", t.what, err)
	case tok.Kind != "" && tok.Kind != t.kind:
		// Sending an access token to a service that wanted an ID token
		// would hand it a credential for every Google API.
		return nil, fmt.Errorf("transport: the token provider returned a token of kind %q; this Transport sends %q", tok.Kind, t.kind)
	}
	return tok, nil
}

// CloseIdleConnections closes the base transport's idle connections, if it
// has such a method; http.Client.CloseIdleConnections calls it.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// maxRedirects is http.Client's default limit, which a custom
// CheckRedirect must enforce itself.
const maxRedirects = 10

// checkRedirect follows up to maxRedirects redirects and removes the token
// header the caller set on the first request once the chain leaves that
// request's origin (net/http keeps Authorization for subdomains and other
// ports of the same host, and never strips X-Serverless-Authorization).
func (t *Transport) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	first := originOfURL(via[0].URL)
	if originOfURL(req.URL) != first || slices.ContainsFunc(via[1:], func(r *http.Request) bool {
		return originOfURL(r.URL) != first
	}) {
		req.Header.Del(t.header)
	}
	return nil
}

// NewClient returns an http.Client whose Transport is NewTransport(opts)
// and whose CheckRedirect never carries the token header to another origin.
// It has no Timeout: bound requests with their contexts.
func NewClient(opts *Options) (*http.Client, error) {
	t, err := NewTransport(opts)
	if err != nil {
		return nil, err
	}
	return t.Client(), nil
}

// Client returns an http.Client that sends its requests through t, with a
// CheckRedirect that never carries the token header to another origin.
func (t *Transport) Client() *http.Client {
	return &http.Client{Transport: t, CheckRedirect: t.checkRedirect}
}
