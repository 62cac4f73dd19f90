// Package metadataserver emulates the Compute Engine metadata server (the
// /computeMetadata/v1/ tree at 169.254.169.254) on top of any credential, so
// that unmodified programs using Google's client libraries get tokens locally
// as they would on Compute Engine. Clients find it through GCE_METADATA_HOST
// (Go, Python, Node), GCE_METADATA_IP (Python's and Node's detection ping)
// and GCE_METADATA_ROOT (gcloud).
//
// A Server is an http.Handler; Serve runs it on a listener with timeouts set
// for an exposed daemon. It serves:
//
//   - instance/service-accounts/{default,<email>}/: token (honouring
//     ?scopes=), identity (?audience=, format=standard|full, licenses=),
//     email, scopes, aliases, and the recursive JSON description;
//   - project/project-id, project/numeric-project-id, project/attributes/,
//     universe/universe-domain;
//   - what every VM has under instance/: id, name, hostname, zone,
//     machine-type, image, cpu-platform, description, tags (a JSON array),
//     attributes/, disks/0/…, licenses/N/id, network-interfaces/0/ (ip, mac,
//     gateway, subnetmask, network, mtu, dns-servers,
//     access-configs/0/{external-ip,type}, …), scheduling/,
//     maintenance-event, preempted, remaining-cpu-time,
//     virtual-clock/drift-token; numbered directories (disks/,
//     network-interfaces/, …) become JSON arrays in ?recursive=true, whose
//     keys are camelCase as on a VM;
//   - directory listings, ?recursive=true, ?alt=json|text, ETags and a subset
//     of ?wait_for_change=true (see below);
//   - / (the detection probe), and outside the metadata tree /healthz and
//     Prometheus /metrics.
//
// # Tokens
//
// Each scope set and each (audience, format, licenses) triple gets its own
// gcptoken.NewCachedProvider, created on first use. Concurrent requests for
// the same key therefore share one upstream fetch, a cached token is served
// with at least Options.MinRemaining left (as Google's server keeps 4–5
// minutes), and a background refresh starts Options.RefreshBefore ahead of
// expiry, plus the cache's random jitter (up to a tenth of the token's
// lifetime), so that the keys of nodes started together are not refreshed
// together. No lock is held across an upstream fetch, so a slow ID-token mint
// for one audience never delays another key. The key sets are bounded and
// evict the least recently used key. An upstream failure is answered with
// 503 (transient: unreachable, 5xx, 429, after the cache's retries), 502
// (the upstream refused) or 504 (no answer within 30 s), with a one-line
// reason; the next request tries again, so the server recovers by itself.
//
// An identity request passes the VM's description (IDTokenRequest.Instance)
// to the Source, which decides the token's claims. Over a credential
// (`gcptoken metadata-server --credentials key.json`) the token is what
// that credential mints: a service-account key's ID token comes from the
// token endpoint, with email and azp the email, whatever format asks for.
// Compute Engine's own tokens differ (format=standard: aud, azp the unique
// id, exp, iat, iss, sub, no email; format=full adds email and the
// google.compute_engine claim); a Source that is the issuer can mint
// those, as `gcptoken emulator --metadata-listen` does with fakegoogle.
//
// # Fidelity
//
// The wire format follows what Google's Go, Python and Node libraries need
// (see protocol.md §5 in the repository's design notes): every response,
// errors and redirects included, carries Metadata-Flavor: Google; requests
// under /computeMetadata without that request header get 403, and requests
// with X-Forwarded-For get 403 (the real server's anti-SSRF rule); unknown
// paths get Google's HTML 404 page; a directory asked for without its
// trailing slash is redirected (301), which Node's detection probe of
// .../instance follows. Behaviour copied from third-party emulators rather
// than confirmed against Google is marked [emu] in the code, guesses [?].
//
// # Web pages
//
// Metadata-Flavor keeps out a web page's simple requests, but not a page
// that rebinds its own DNS name to the server's address: its browser then
// treats the server as the page's own origin and lets it set any header and
// read the answers. The only trace is the Host header, so the server
// answers only IP address literals (what GCE_METADATA_HOST holds; not
// 0.0.0.0 or ::), localhost, metadata.google.internal, metadata and
// Options.AllowedHosts, and refuses other names with 421. Requests a
// browser marks as sent by another site (Sec-Fetch-Site cross-site or
// same-site, or a foreign Origin) get 403; no response carries
// Access-Control-Allow-* headers.
//
// An ID token whose audience (Metadata[gcptoken.MetaAudience]) is not the
// one asked for, as user credentials' always are, is refused with 400
// unless Options.AllowAudienceMismatch.
//
// # Defaults
//
// Options.NumericProjectID defaults to a 12-digit number and
// Options.InstanceID to a 19-digit number, both derived from a SHA-256 of the
// project id (and, for the instance, zone and name), so they are stable
// across restarts and differ between projects.
//
// # wait_for_change
//
// Served values never change while the server runs, so wait_for_change=true
// returns at once when last_etag is given and differs from the current ETag,
// and otherwise holds the request until timeout_sec (default and maximum
// 60 s), the client goes away or the server shuts down, then returns the
// current value. token and identity ignore it.
package metadataserver
