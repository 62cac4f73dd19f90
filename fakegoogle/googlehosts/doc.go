// Package googlehosts puts fakegoogle under Google's real host names, so that
// programs that cannot be pointed at a fake by configuration (Node's
// service-account grant, Python's impersonation and authorized_user flows,
// Python's verify_oauth2_token, gcloud, Go's impersonate and downscope
// packages) still talk to it unmodified, and offline.
//
// A Proxy is an HTTP proxy (set HTTPS_PROXY to it). A CONNECT to one of the
// emulated Google hosts on port 443 (oauth2.googleapis.com,
// accounts.google.com, www.googleapis.com, iamcredentials.googleapis.com,
// sts.googleapis.com, openidconnect.googleapis.com,
// cloudresourcemanager.googleapis.com, www.gstatic.com for IAP's keys and
// www.google.com for the device flow's /device page) is not tunnelled
// anywhere: the proxy terminates TLS itself with a leaf certificate for that
// host, issued on the fly by a local CA, and answers from the fake, routing
// on the Host of each request and on the paths Google serves on that host;
// a path a host does not serve gets Google's 404 page, as at Google.
// Connections speak HTTP/1.1, and HTTP/2 to iamcredentials.googleapis.com,
// whose gRPC service Google's generated Go client calls.
// Plain-HTTP requests for the GCE metadata server (metadata.google.internal,
// 169.254.169.254) go to a metadata handler when one is configured, and
// those for the fake's own loopback address (Options.FakeAliases: gcloud
// sends even loopback requests through its proxy) go to the fake. Every
// other host is refused with 403 and a message saying so: nothing is ever
// forwarded to the internet.
//
// The CA (ECDSA P-256) is created once and kept in a directory (ca.pem, and
// ca-key.pem with mode 0600); programs trust it through SSL_CERT_FILE,
// REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS or
// CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE. Its certificate is name-constrained to
// the emulated hosts, so a leaked key cannot impersonate any other site.
//
// For a fake of another universe (fakegoogle.Options.UniverseDomain,
// Options.UniverseDomain here) the emulated hosts are the googleapis.com
// ones under that domain (oauth2.{universe}, iamcredentials.{universe},
// sts.{universe}, …: HostsIn), the names Google's libraries derive from a
// universe domain, and nothing else; the CA is made for them
// (LoadOrCreateCA extends an existing one's constraints), and GoogleURLsIn
// rewrites credential files to them.
//
// GoogleURLs rewrites the credential files fakegoogle writes (whose URLs name
// the fake's loopback address) to Google's real URLs, which the proxy
// catches.
//
// Package fakegoogle/emulator (`gcptoken emulator --https-proxy ADDR`) runs
// all of it and writes an env.sh that sets the proxy and CA variables.
package googlehosts
