// Package authproxy is a reverse proxy that adds Google Cloud bearer tokens
// to every request: an ID token for a private Cloud Run service, Cloud
// Function or IAP-protected app, or an access token for a Google API. It is
// what `gcptoken proxy` serves, and works without the CLI:
//
//	tokens, err := creds.IDTokenProvider("https://svc-abc-uc.a.run.app", nil)
//	...
//	p, err := authproxy.New(&authproxy.Options{Target: target, Tokens: tokens})
//	...
//	err = p.Serve(ctx, ln) // returns after a graceful shutdown when ctx ends
//
// It is built on net/http/httputil.ReverseProxy (with Rewrite) and differs
// from cloud-run-proxy and `gcloud run services proxy` where those have
// known problems:
//
//   - Tokens never go stale: Serve runs a background refresher that asks the
//     (cached) provider for a token every RefreshInterval, so the cache
//     renews it before it expires and no request waits for, or is sent
//     with, an expired token. cloud-run-proxy's answer to expiry (#18) is to
//     restart it.
//   - It fails closed: when no token can be had, the client gets 502 (the
//     credential was refused) or 503 with Retry-After (the token endpoint
//     is unreachable or failing), with a one-line reason, and the request is
//     never forwarded without a token.
//   - The upstream is sent Host = the target's host (Cloud Run routes on
//     it); Location headers that point at the target are rewritten to point
//     back at the proxy, so redirects keep going through it.
//   - Client-supplied X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto
//     and Forwarded headers are dropped and none are added: behind a
//     loopback proxy the peer is always 127.0.0.1, which tells the app
//     nothing, and passing the client's own values through would let any
//     local caller spoof them. Google's front end sets X-Forwarded-For
//     itself.
//   - Streaming works: responses of unknown length and text/event-stream
//     are flushed as they arrive; WebSocket and other Upgrade requests are
//     tunnelled; no server WriteTimeout cuts long responses off.
//   - HTTP/2: clients may speak HTTP/1.1 or h2c (HTTP/2 with prior
//     knowledge, as gRPC clients do). Upstream, https targets get HTTP/2
//     when the server offers it (ALPN). To plain-http targets, gRPC
//     requests (Content-Type application/grpc…) that arrived over h2c are
//     forwarded over h2c, so gRPC works end to end against a local h2c
//     server; everything else goes over HTTP/1.1, which every server
//     speaks, so h2c clients such as curl --http2-prior-knowledge also work
//     in front of HTTP/1-only servers. (Mirroring the client's protocol
//     for every request would break those, and a failed h2c attempt cannot
//     be retried over HTTP/1.1: the request has been sent.) A custom
//     Options.Transport replaces this choice.
//   - Health and metrics never shadow the app: the proxied listener
//     forwards every path. /healthz, /readyz and Prometheus /metrics are
//     served by OpsHandler, on a separate listener (ServeOps), off unless
//     asked for.
//   - Web pages cannot use it: a request for a Host other than an IP
//     address, localhost or Options.AllowedHosts gets 421 (what a page
//     sends after rebinding its DNS name to the proxy's address), and one
//     a browser marks as coming from another site (Sec-Fetch-Site
//     cross-site or same-site, or a foreign Origin) gets 403 unless
//     Options.AllowCrossSite, CORS preflights included.
//   - Access logs (log/slog) carry method, path without query, status,
//     duration and peer, never tokens or query strings. Metric labels are
//     bounded: method from a fixed set, status class, token result.
//
// Which header carries the token: Authorization by default, replacing any
// Authorization the client sent (the client's X-Serverless-Authorization is
// dropped too, as Cloud Run would prefer it). With Header set to
// X-Serverless-Authorization, as `gcloud run services proxy` does, the
// token goes there and the client's own Authorization reaches the app
// untouched; Cloud Run checks X-Serverless-Authorization first and leaves
// Authorization to the app. Cloud Functions (1st gen) and IAP only read
// Authorization.
package authproxy
