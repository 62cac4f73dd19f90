package transport

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// The headers a Transport can put the token in, and the quota header.
const (
	// HeaderAuthorization is the standard header, read by every Google
	// service.
	HeaderAuthorization = "Authorization"
	// HeaderServerlessAuthorization is read by Cloud Run (and Cloud
	// Functions 2nd gen) before Authorization, which it then leaves
	// untouched for the application's own use.
	HeaderServerlessAuthorization = "X-Serverless-Authorization"
	// HeaderQuotaProject names the project billed for quota on Google API
	// calls made with user credentials.
	HeaderQuotaProject = "X-Goog-User-Project"
)

// ErrNotAllowed marks a request the Transport refused to add a token to:
// its host is not in the allowed hosts, or it is plain http to a host that
// is not loopback. The request was not sent. Test with errors.Is.
var ErrNotAllowed = errors.New("token not sent")

// Options configures NewTransport and NewClient. TokenProvider or
// ProviderForAudience is required: a Transport knows nothing of credentials
// (credentials.Credentials.NewClient makes one from them).
type Options struct {
	// TokenProvider is the source of the token sent with every request. It
	// is wrapped in gcptoken.NewCachedProvider unless it already is one
	// (pass a cached provider to choose its CacheOptions). A token whose
	// Kind is set and is not Options.Kind is refused, so an access token
	// never goes where an ID token was meant to. With Kind IDToken it needs
	// Audience or AllowedHosts to say where its one token may go.
	// Mutually exclusive with ProviderForAudience.
	TokenProvider gcptoken.TokenProvider
	// ProviderForAudience makes the source of ID tokens for an audience:
	// with it, each request gets a token for its own scheme://host (Cloud
	// Run's audience for a service URL, e.g.
	// "https://svc-abc-uc.a.run.app"), from one cached provider per
	// audience. Kind must be IDToken and Audience empty. Mutually exclusive
	// with TokenProvider.
	ProviderForAudience func(audience string) (gcptoken.TokenProvider, error)
	// Kind is gcptoken.AccessToken or gcptoken.IDToken. Optional; default
	// gcptoken.AccessToken.
	Kind gcptoken.Kind
	// Audience is the audience of TokenProvider's ID tokens, which decides
	// where they may go. Optional; ID tokens only. When Audience is an
	// http(s) URL its host and port are the default AllowedHosts; otherwise
	// AllowedHosts is required.
	Audience string
	// QuotaProject is sent as X-Goog-User-Project with access tokens,
	// unless the request already has that header. Optional; default none.
	// Not sent with ID tokens, which are not for Google APIs.
	QuotaProject string
	// Header is the header the token goes in: HeaderAuthorization or
	// HeaderServerlessAuthorization (any case). Optional; default
	// HeaderAuthorization. Use HeaderServerlessAuthorization to call Cloud
	// Run while leaving Authorization to the application.
	Header string
	// AllowedHosts are the hosts that may receive the token, each
	// "host" (any port), "host:port", "*.domain" (any host under domain,
	// not domain itself, optionally with ":port"), or "*" (any host).
	// Optional; when empty the default is, for access tokens, every host
	// under the universe domain ("*.googleapis.com"); for ID tokens with an
	// Audience URL, that URL's host and port; for ID tokens with
	// per-request audiences (ProviderForAudience), any host (each receives
	// only a token for itself). Redirect hops to another origin never get a
	// token, whatever this says.
	AllowedHosts []string
	// AllowHTTP lets tokens travel over plain http to hosts that are not
	// loopback. Optional; default false: tokens go only over https, or over
	// http to localhost, 127.0.0.0/8 and ::1.
	AllowHTTP bool
	// UniverseDomain is the universe the client is configured for, e.g.
	// "googleapis.com" or another universe's domain, whose hosts are the
	// default AllowedHosts of access tokens. Optional; default
	// $GOOGLE_CLOUD_UNIVERSE_DOMAIN, else "googleapis.com", the precedence
	// of Google's Go transports. (credentials.Credentials.NewClient also
	// refuses credentials of another universe.)
	UniverseDomain string
	// Base sends the requests. Optional; default a clone of
	// http.DefaultTransport (so CloseIdleConnections closes only this
	// Transport's connections).
	Base http.RoundTripper
}

// validate checks opts.
func (o *Options) validate() error {
	idToken := o.Kind == gcptoken.IDToken
	switch {
	case o.TokenProvider == nil && o.ProviderForAudience == nil:
		return errors.New("Options.TokenProvider is required (credentials.Credentials.NewClient makes a client of credentials)")
	case o.TokenProvider != nil && o.ProviderForAudience != nil:
		return errors.New("Options.TokenProvider and Options.ProviderForAudience are mutually exclusive")
	case o.Kind != "" && o.Kind != gcptoken.AccessToken && o.Kind != gcptoken.IDToken:
		return fmt.Errorf("Options.Kind %q: want %q or %q", o.Kind, gcptoken.AccessToken, gcptoken.IDToken)
	case canonicalHeader(o.Header) == "":
		return fmt.Errorf("Options.Header %q: want %s or %s", o.Header, HeaderAuthorization, HeaderServerlessAuthorization)
	case o.ProviderForAudience != nil && !idToken:
		return fmt.Errorf("Options.ProviderForAudience makes ID tokens; set Kind to %q", gcptoken.IDToken)
	case o.ProviderForAudience != nil && o.Audience != "":
		return errors.New("Options.ProviderForAudience is for per-request audiences; for one Audience, give its TokenProvider")
	case o.Audience != "" && !idToken:
		return fmt.Errorf("Options.Audience is for ID tokens; set Kind to %q", gcptoken.IDToken)
	case o.QuotaProject != "" && idToken:
		return errors.New("Options.QuotaProject is for access tokens to Google APIs, not ID tokens")
	case idToken && o.TokenProvider != nil && o.Audience == "" && len(o.AllowedHosts) == 0:
		return errors.New("an ID-token TokenProvider gives one token for every request: set Options.Audience or " +
			"Options.AllowedHosts to say where it may go, or use Options.ProviderForAudience for per-request audiences")
	}
	if o.UniverseDomain != "" {
		if err := endpoints.CheckUniverseDomain(o.UniverseDomain); err != nil {
			return fmt.Errorf("Options.UniverseDomain: %w", err)
		}
	}
	for _, h := range o.AllowedHosts {
		if _, err := parsePattern(h); err != nil {
			return fmt.Errorf("Options.AllowedHosts: %w", err)
		}
	}
	if o.Audience != "" && len(o.AllowedHosts) == 0 {
		if _, ok := audienceOrigin(o.Audience); !ok {
			return fmt.Errorf("Options.Audience %q is not an http(s) URL, so it does not say which host may receive "+
				"the token: set Options.AllowedHosts", o.Audience)
		}
	}
	return nil
}

// canonicalHeader returns the header name h stands for, or "" if none.
func canonicalHeader(h string) string {
	switch {
	case h == "" || strings.EqualFold(h, HeaderAuthorization):
		return HeaderAuthorization
	case strings.EqualFold(h, HeaderServerlessAuthorization):
		return HeaderServerlessAuthorization
	}
	return ""
}

// audienceOrigin returns the allowed-host pattern for an audience that is an
// http(s) URL: its host and port, exactly.
func audienceOrigin(aud string) (pattern, bool) {
	u, err := url.Parse(aud)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
		return pattern{}, false
	}
	o := originOfURL(u)
	return pattern{host: o.host, port: o.port}, true
}
