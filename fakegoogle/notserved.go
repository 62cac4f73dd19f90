package fakegoogle

import (
	"slices"
	"strings"
)

// The fake's out-of-scope table. The endpoint census
// (crosscheck/census_test.go) extracts every Google URL from the installed
// sources of Google's own clients (Python google-auth, Node
// google-auth-library, Go's cloud.google.com/go/auth, golang.org/x/oauth2
// and google.golang.org/api/idtoken, gcloud's credential code) and requires
// each to be served by the fake, through googlehosts, or to match a row
// here, with the reason the fake does not serve it. A client update that
// brings a new URL fails the census until one or the other is done.

// NotServedURL is a Google URL, or a family of them, that clients name and
// the fake deliberately does not serve.
type NotServedURL struct {
	// Host is the host name, or "*" for any host.
	Host string
	// Path is a path template as the census writes it ("{}" for a
	// variable part), "" for the bare host, or a prefix ending in "*".
	Path string
	// Reason says why the fake does not serve it.
	Reason string
}

// Matches reports whether host and path (a census template) fall under u.
func (u NotServedURL) Matches(host, path string) bool {
	if u.Host != "*" && u.Host != host {
		return false
	}
	if prefix, ok := strings.CutSuffix(u.Path, "*"); ok {
		return strings.HasPrefix(path, prefix)
	}
	return u.Path == path
}

const (
	reasonDocs    = "documentation pages linked from comments and error messages, not endpoints"
	reasonExample = "an example API call in documentation comments: the fake models Google's auth endpoints, not data APIs"
	reasonRAB     = "Regional Access Boundary lookup, opt-in (GOOGLE_AUTH_TRUST_BOUNDARY_ENABLED) in cloud.google.com/go/auth: not modelled"
)

var notServed = []NotServedURL{
	{"*", "", "a bare host: a base URL the code appends a path to elsewhere, an audience or an issuer name; never fetched by itself"},
	{"cloud.google.com", "*", reasonDocs + "; also the IAP issuer name https://cloud.google.com/iap, compared, never fetched"},
	{"developers.google.com", "*", reasonDocs},
	{"www.googleapis.com", "/auth/*", "OAuth scope names, not endpoints: the fake checks them as scopes (Server.KnownScope), and the census checks it knows each"},
	{"oauth2.mtls.googleapis.com", "*", "the mTLS token endpoint for certificate-bound tokens (GOOGLE_API_USE_CLIENT_CERTIFICATE): needs client certificates the emulator does not model"},
	{"reauth.googleapis.com", "*", "reauthentication challenges (password, security key) for user credentials under a Workspace reauth policy: interactive, not modelled"},
	{"iamcredentials.googleapis.com", "/v1/projects/-/serviceAccounts/{}/allowedLocations", reasonRAB},
	{"iamcredentials.googleapis.com", "/v1/projects/{}/locations/global/workloadIdentityPools/{}/allowedLocations", reasonRAB},
	{"iamcredentials.googleapis.com", "/v1/locations/global/workforcePools/{}/allowedLocations", reasonRAB},
	{"sts.googleapis.com", "/v1/instrospect", "a misspelling in google-auth's docstring (external_account_authorized_user.py); its code calls /v1/introspect, which the fake serves"},
	{"sts.googleapis.com", "/v1/oauth/token", "an old name in google-auth's docstring (external_account_authorized_user.py); its code calls /v1/oauthtoken, which the fake serves"},
	{"pubsub.googleapis.com", "*", reasonExample},
	{"pubsub.mtls.googleapis.com", "*", reasonExample},
	{"dns.googleapis.com", "*", reasonExample},
	{"www.googleapis.com", "/storage/*", reasonExample},
}

// NotServed returns the out-of-scope table: the Google URLs Google's
// clients name that the fake does not serve, each with its reason.
func NotServed() []NotServedURL { return slices.Clone(notServed) }
