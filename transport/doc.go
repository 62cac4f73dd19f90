// Package transport makes HTTP clients that add Google Cloud bearer tokens
// from a gcptoken.TokenProvider: an ID token to call a private Cloud Run
// service, Cloud Function or other service that checks Google-signed ID
// tokens, or an access token to call a Google API. Like golang.org/x/oauth2's
// Transport it knows only token providers, never credentials, so a
// RoundTripper links no credential code; credentials.Credentials.NewClient
// and credentials.DefaultClient make one of credentials, and
// idtoken.NewClient is built on it:
//
//	tokens, err := creds.ProviderFor(&credentials.TokenRequest{Kind: gcptoken.IDToken, Audience: svc})
//	...
//	client, err := transport.NewClient(&transport.Options{TokenProvider: tokens, Kind: gcptoken.IDToken, Audience: svc})
//	...
//	resp, err := client.Get(svc + "/hello")
//
// Tokens come from a gcptoken.NewCachedProvider, one per audience when the
// audience is each request's origin (Options.ProviderForAudience), so
// concurrent requests share one token request and tokens are renewed before
// they expire.
//
// # Where tokens go
//
// A bearer token is as good as a password for as long as it lives, so a
// Transport sends it only where it belongs:
//
//   - Only to the hosts in Options.AllowedHosts. By default: for an access
//     token, any host under the universe domain
//     (*.googleapis.com); for an ID token with an explicit audience URL, that
//     URL's host and port; for an ID token whose audience is each request's
//     own scheme://host, any host, since each host gets only a token minted
//     for itself. A request the caller sends to another host fails with an
//     error matching ErrNotAllowed rather than going out without its token.
//   - Only over https, except to loopback hosts (localhost, 127.0.0.0/8,
//     ::1), unless Options.AllowHTTP is set.
//   - Never across a redirect to another origin. net/http strips
//     Authorization from redirects to other domains only for headers the
//     caller set; a RoundTripper adds its header afresh on every hop, so the
//     Transport itself checks each hop: a redirect hop whose chain has left
//     the scheme, host and port the caller asked for is sent without a token
//     (and with the token header removed, whoever set it), as net/http does
//     for Authorization. NewClient's CheckRedirect does the same for headers
//     the caller set on the first request.
//
// # Universe domains
//
// A Transport is configured for one universe (Options.UniverseDomain, else
// $GOOGLE_CLOUD_UNIVERSE_DOMAIN, else googleapis.com), as Google's clients
// are, whose hosts receive its access tokens; credentials.Credentials.NewClient
// refuses credentials of another one with Google's error ("the configured
// universe domain ("googleapis.com") does not match the universe domain
// found in the credentials (…)"): their tokens mean nothing there.
//
// A request that already carries the configured header (Authorization or
// X-Serverless-Authorization) is passed through untouched: the caller chose
// its own credentials for it.
package transport
