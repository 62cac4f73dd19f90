// Package transport makes HTTP clients that add Google Cloud bearer tokens:
// an ID token to call a private Cloud Run service, Cloud Function or other
// service that checks Google-signed ID tokens, or an access token to call a
// Google API, for every credential gcptoken supports. idtoken.NewClient
// (google.golang.org/api/idtoken's name) is built on it; here the audience
// may also be each request's own origin:
//
//	client, err := transport.NewIDTokenClient(ctx, "", nil) // any Cloud Run service
//	...
//	resp, err := client.Get("https://svc-abc-uc.a.run.app/hello")
//
// Tokens come from one gcptoken.NewCachedProvider per audience, so
// concurrent requests share one token request and tokens are renewed before
// they expire.
//
// # Where tokens go
//
// A bearer token is as good as a password for as long as it lives, so a
// Transport sends it only where it belongs:
//
//   - Only to the hosts in Options.AllowedHosts. By default: for an access
//     token, any host under the credential's universe domain
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
// A request that already carries the configured header (Authorization or
// X-Serverless-Authorization) is passed through untouched: the caller chose
// its own credentials for it.
package transport
