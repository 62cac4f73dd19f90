package transport

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
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

// DefaultScope is the scope asked for when Options.Scopes is empty, except
// for user credentials (see Options.Scopes).
const DefaultScope = "https://www.googleapis.com/auth/cloud-platform"

// ErrNotAllowed marks a request the Transport refused to add a token to:
// its host is not in the allowed hosts, or it is plain http to a host that
// is not loopback. The request was not sent. Test with errors.Is.
var ErrNotAllowed = errors.New("token not sent")

// Options configures NewTransport, NewClient and NewIDTokenClient. A nil
// *Options means all defaults: Application Default Credentials, access
// tokens for cloud-platform, sent to *.googleapis.com.
type Options struct {
	// Credentials mint the tokens. Optional; default
	// credentials.Detect(ctx, nil), called once by the constructor.
	// Mutually exclusive with TokenProvider.
	Credentials *credentials.Credentials
	// TokenProvider is a source of tokens to use instead of Credentials,
	// e.g. a custom source or a fake in tests. It is wrapped in
	// gcptoken.NewCachedProvider unless it already is one (pass a cached
	// provider to choose its CacheOptions). A token whose Kind is set and
	// is not Options.Kind is refused, so an access token never goes where
	// an ID token was meant to.
	// Optional; mutually exclusive with Credentials. It gives one token
	// for every request, so with Kind IDToken it needs Audience or
	// AllowedHosts to say where that token may go.
	TokenProvider gcptoken.TokenProvider
	// Kind is gcptoken.AccessToken or gcptoken.IDToken. Optional; default
	// gcptoken.AccessToken.
	Kind gcptoken.Kind
	// Scopes are the access token's OAuth scopes. Optional; default
	// DefaultScope, except for authorized_user credentials, which get the
	// scopes the user granted at sign-in. Access tokens from Credentials
	// only.
	Scopes []string
	// Audience is the ID token's audience. Optional; ID tokens only.
	// Default: each request's own scheme://host (Cloud Run's audience for
	// a service URL, e.g. "https://svc-abc-uc.a.run.app"), with one cached
	// token per audience. A Cloud Functions (1st gen) URL needs an explicit
	// Audience: its audience is the whole function URL, path included; the
	// same holds for any service that expects a full URL or a non-URL
	// audience (an IAP OAuth client id, say). When Audience is an http(s)
	// URL its host and port are the default AllowedHosts; otherwise
	// AllowedHosts is required.
	Audience string
	// QuotaProject is sent as X-Goog-User-Project with access tokens,
	// unless the request already has that header. Optional; default the
	// credential's quota project (quota_project_id or
	// $GOOGLE_CLOUD_QUOTA_PROJECT), none with TokenProvider. Not sent with
	// ID tokens, which are not for Google APIs.
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
	// under the credential's universe domain ("*.googleapis.com"; with a
	// TokenProvider, under Options.UniverseDomain's); for ID
	// tokens with an Audience URL, that URL's host and port; for ID tokens
	// with per-request audiences, any host (each receives only a token for
	// itself). Redirect hops to another origin never get a token, whatever
	// this says.
	AllowedHosts []string
	// AllowHTTP lets tokens travel over plain http to hosts that are not
	// loopback. Optional; default false: tokens go only over https, or over
	// http to localhost, 127.0.0.0/8 and ::1.
	AllowHTTP bool
	// UniverseDomain is the universe the client is configured for, e.g.
	// "googleapis.com" or another universe's domain. Optional; default
	// $GOOGLE_CLOUD_UNIVERSE_DOMAIN, else "googleapis.com", the
	// precedence of Google's Go transports. NewTransport refuses
	// Credentials of another universe with a
	// *credentials.UniverseMismatchError, in the words of Google's
	// libraries; with a TokenProvider, which has no universe, it sets the
	// default AllowedHosts of access tokens instead.
	UniverseDomain string
	// Base sends the requests. Optional; default a clone of
	// http.DefaultTransport (so CloseIdleConnections closes only this
	// Transport's connections).
	Base http.RoundTripper
}

// validate checks opts on their own, before any credential is loaded.
func (o *Options) validate() error {
	idToken := o.Kind == gcptoken.IDToken
	switch {
	case o.Credentials != nil && o.TokenProvider != nil:
		return errors.New("Options.Credentials and Options.TokenProvider are mutually exclusive")
	case o.Kind != "" && o.Kind != gcptoken.AccessToken && o.Kind != gcptoken.IDToken:
		return fmt.Errorf("Options.Kind %q: want %q or %q", o.Kind, gcptoken.AccessToken, gcptoken.IDToken)
	case canonicalHeader(o.Header) == "":
		return fmt.Errorf("Options.Header %q: want %s or %s", o.Header, HeaderAuthorization, HeaderServerlessAuthorization)
	case len(o.Scopes) > 0 && idToken:
		return errors.New("Options.Scopes are for access tokens; ID tokens have an Audience instead")
	case len(o.Scopes) > 0 && o.TokenProvider != nil:
		return errors.New("Options.Scopes need Options.Credentials; a TokenProvider chooses its own scopes")
	case o.Audience != "" && !idToken:
		return fmt.Errorf("Options.Audience is for ID tokens; set Kind to %q", gcptoken.IDToken)
	case o.QuotaProject != "" && idToken:
		return errors.New("Options.QuotaProject is for access tokens to Google APIs, not ID tokens")
	case idToken && o.TokenProvider != nil && o.Audience == "" && len(o.AllowedHosts) == 0:
		return errors.New("an ID-token TokenProvider gives one token for every request: set Options.Audience or " +
			"Options.AllowedHosts to say where it may go, or use Options.Credentials for per-request audiences")
	}
	if o.UniverseDomain != "" {
		if err := endpoints.CheckUniverseDomain(o.UniverseDomain); err != nil {
			return fmt.Errorf("Options.UniverseDomain: %w", err)
		}
	}
	for _, s := range o.Scopes {
		if s == "" {
			return errors.New("Options.Scopes has an empty scope")
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
