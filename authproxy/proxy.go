package authproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/hostcheck"
	"github.com/gcptoken/gcptoken/internal/httpserve"
)

// headerQuotaProject names the project billed for Google API calls.
const headerQuotaProject = "X-Goog-User-Project"

// The headers a Proxy can put the token in.
const (
	// HeaderAuthorization is the standard header, read by every Google
	// service. The client's own Authorization is replaced.
	HeaderAuthorization = "Authorization"
	// HeaderServerlessAuthorization is read by Cloud Run before
	// Authorization, which it then leaves to the app.
	HeaderServerlessAuthorization = "X-Serverless-Authorization"
)

// Options configures a Proxy.
type Options struct {
	// Target is the upstream base URL: scheme (http or https), host and
	// optionally a path prefix and query that every request is appended
	// to, as httputil.ProxyRequest.SetURL does. Required.
	Target *url.URL
	// Tokens provides the token added to every request, e.g. a provider
	// of package credentials. It is wrapped in gcptoken.NewCachedProvider
	// unless it already is one (the providers of package credentials are;
	// pass a cached provider to choose its CacheOptions). Required.
	Tokens gcptoken.TokenProvider
	// Header is HeaderAuthorization or HeaderServerlessAuthorization (any
	// case). Optional; default HeaderAuthorization.
	Header string
	// QuotaProject is sent as X-Goog-User-Project (the project billed for
	// Google API calls made with an access token) unless the client sent
	// one. Optional; default none. Leave it empty for ID tokens.
	QuotaProject string
	// AllowedHosts are more names clients may address the proxy by (its
	// Host header), each "name" for any port or "name:port". It always
	// answers IP address literals (but 0.0.0.0 and ::) and localhost; a
	// request for any other name gets 421, because that is what a web page
	// sends when it rebinds its own DNS name to the proxy's address (DNS
	// rebinding) to call the target as the credential's principal and read
	// the answers. Optional; `gcptoken proxy --allow-host`.
	AllowedHosts []string
	// AllowCrossSite forwards requests that a browser marks as sent by a
	// page of another site (Sec-Fetch-Site cross-site or same-site, or an
	// Origin other than the proxy's). By default they get 403: the proxy
	// adds the token to whatever a request does, so any web page could
	// otherwise post forms to the target as the principal, or, through a
	// preflight the target's CORS headers grant, read from it. Optional;
	// `gcptoken proxy --allow-cross-site`.
	AllowCrossSite bool
	// Logger receives one access log line per request (method, path
	// without query, protocol, status, duration, peer) at Info, and token
	// and upstream failures at Warn. Tokens and query strings are never
	// logged. Optional; default discards.
	Logger *slog.Logger
	// Transport sends requests upstream. Optional; the default keeps up to
	// 256 idle connections per host, honours HTTPS_PROXY/NO_PROXY, speaks
	// HTTP/2 to https targets that offer it, and to plain-http targets
	// speaks h2c for gRPC requests that arrived over h2c and HTTP/1.1 for
	// everything else.
	Transport http.RoundTripper
	// RefreshInterval is how often Serve's background refresher asks
	// Tokens for a token, so that the cache renews it before it expires
	// and no request waits for a renewal. It must be well below the cache's
	// RefreshBefore (5 minutes by default). Optional; default 1 minute.
	RefreshInterval time.Duration
	// ShutdownTimeout is how long Serve lets in-flight requests finish
	// after ctx ends; streams and WebSockets still open then are cut.
	// Optional; default 10 seconds.
	ShutdownTimeout time.Duration
	// Now is the clock, for the cache and token expiry checks. Optional;
	// default time.Now.
	Now func() time.Time
}

func (o *Options) validate() (header string, err error) {
	switch {
	case o.Target == nil:
		return "", errors.New("Options.Target is required")
	case o.Target.Scheme != "http" && o.Target.Scheme != "https":
		return "", fmt.Errorf("Options.Target %q: scheme must be http or https", o.Target.Redacted())
	case o.Target.Host == "":
		return "", fmt.Errorf("Options.Target %q has no host", o.Target.Redacted())
	case o.Target.User != nil:
		return "", fmt.Errorf("Options.Target %q must not carry user info: the proxy adds the credentials", o.Target.Redacted())
	case o.Tokens == nil:
		return "", errors.New("Options.Tokens is required")
	case o.RefreshInterval < 0 || o.ShutdownTimeout < 0:
		return "", errors.New("Options.RefreshInterval and ShutdownTimeout must not be negative")
	}
	if _, err := hostcheck.New(o.AllowedHosts...); err != nil {
		return "", fmt.Errorf("Options.AllowedHosts: %w", err)
	}
	switch {
	case o.Header == "" || strings.EqualFold(o.Header, HeaderAuthorization):
		return HeaderAuthorization, nil
	case strings.EqualFold(o.Header, HeaderServerlessAuthorization):
		return HeaderServerlessAuthorization, nil
	}
	return "", fmt.Errorf("Options.Header %q: want %s or %s", o.Header, HeaderAuthorization, HeaderServerlessAuthorization)
}

// Server limits. There is deliberately no ReadTimeout or WriteTimeout:
// they would cut uploads, streamed responses and WebSockets.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 1 << 20
	retryAfter        = "5" // seconds, on 503 when no token can be had
	maxLogPath        = 256
	readyTimeout      = 10 * time.Second
)

// Proxy is an authenticating reverse proxy. It is an http.Handler, safe for
// concurrent use; Serve adds the server, the token refresher and graceful
// shutdown.
type Proxy struct {
	target *url.URL
	prefix string // target's path without trailing slash, for Location
	tokens gcptoken.TokenProvider
	header string
	// quotaProject is Options.QuotaProject.
	quotaProject string
	log          *slog.Logger
	now          func() time.Time
	every        time.Duration
	grace        time.Duration
	rp           *httputil.ReverseProxy
	m            *metrics
	ownedTr      *mirrorTransport // non-nil when the proxy made its transport
	hosts        *hostcheck.Guard
	crossSite    bool // Options.AllowCrossSite

	auth   atomic.Pointer[authHeader] // the last token's header value
	active atomic.Int64               // ServeHTTP calls running, for shutdown
}

// New validates opts and returns a Proxy. It makes no requests.
func New(opts *Options) (*Proxy, error) {
	if opts == nil {
		return nil, errors.New("authproxy: Options are required")
	}
	header, err := opts.validate()
	if err != nil {
		return nil, fmt.Errorf("authproxy: %w", err)
	}
	target := *opts.Target
	target.Fragment, target.RawFragment = "", ""
	p := &Proxy{
		target:       &target,
		prefix:       strings.TrimSuffix(target.Path, "/"),
		header:       header,
		quotaProject: opts.QuotaProject,
		log:          opts.Logger,
		now:          opts.Now,
		every:        opts.RefreshInterval,
		grace:        opts.ShutdownTimeout,
		m:            newMetrics(),
		crossSite:    opts.AllowCrossSite,
	}
	p.hosts, _ = hostcheck.New(opts.AllowedHosts...) // validated
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.every == 0 {
		p.every = time.Minute
	}
	if p.grace == 0 {
		p.grace = 10 * time.Second
	}
	if p.tokens, err = gcptoken.NewCachedProvider(opts.Tokens, &gcptoken.CacheOptions{Now: p.now}); err != nil {
		return nil, fmt.Errorf("authproxy: Options.Tokens: %w", err)
	}
	tr := opts.Transport
	if tr == nil {
		p.ownedTr = newMirrorTransport()
		tr = p.ownedTr
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      tr,
		BufferPool:     bufferPool{},
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.upstreamFailed,
		ErrorLog:       slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
		// Responses of unknown length and event streams are flushed at
		// once by ReverseProxy itself; others are copied in full buffers.
	}
	return p, nil
}

// reqInfo is one request's state, shared by the ReverseProxy callbacks
// through the request context. Every callback runs on the handler's
// goroutine, so no locking is needed.
type reqInfo struct {
	auth          []string // the token header's value
	inHost        string   // the Host the client addressed, for Location
	inTLS         bool
	upstreamStart time.Time
	status        int
}

type infoKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	info, _ := ctx.Value(infoKey{}).(*reqInfo)
	return info
}

// statusClientClosed records requests whose client left before the answer
// (nginx's convention); nothing is written.
const statusClientClosed = 499

// ServeHTTP proxies r upstream with a token, or answers 502/503 itself when
// no token can be had. It never forwards a request without a token.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &reqInfo{inHost: r.Host, inTLS: r.TLS != nil}
	p.active.Add(1)
	p.m.inflight.Add(1)
	defer func() {
		if v := recover(); v != nil {
			// ReverseProxy aborts a response whose body copy failed with
			// http.ErrAbortHandler; log it, then let net/http do the rest.
			p.finish(r, info, start, true)
			panic(v)
		}
		p.finish(r, info, start, false)
	}()

	if !p.browserGuard(w, r, info) {
		return
	}
	tok, err := p.tokens.Token(r.Context())
	if err == nil && (tok == nil || tok.Value == "") {
		err = errors.New("the token provider returned an empty token")
	}
	if err != nil {
		p.tokenFailed(w, r, info, err)
		return
	}
	p.m.lookupOK.Inc()
	info.auth = p.authValue(tok)
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
}

func (p *Proxy) finish(r *http.Request, info *reqInfo, start time.Time, aborted bool) {
	p.active.Add(-1)
	p.m.inflight.Add(-1)
	p.m.request(r.Method, info.status).Inc()
	if !p.log.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	path := r.URL.Path
	if len(path) > maxLogPath {
		path = path[:maxLogPath] + "…"
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method), slog.String("path", path), slog.String("proto", r.Proto),
		slog.Int("status", info.status), slog.Duration("duration", time.Since(start)),
		slog.String("peer", r.RemoteAddr),
	}
	if aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
	}
	p.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// authHeader caches the header value of the current token, so that the
// request path does not build the same string for every request.
type authHeader struct {
	tok *gcptoken.Token
	v   []string
}

func (p *Proxy) authValue(tok *gcptoken.Token) []string {
	if c := p.auth.Load(); c != nil && c.tok == tok {
		return c.v
	}
	c := &authHeader{tok: tok, v: []string{tok.TokenType() + " " + tok.Value}}
	p.auth.Store(c)
	return c.v
}

// browserGuard refuses, before any token is fetched, what only a web page
// would send: a Host the proxy does not serve (DNS rebinding, 421) and,
// unless AllowCrossSite, a request a browser marks as coming from another
// site (403). It reports whether to go on.
func (p *Proxy) browserGuard(w http.ResponseWriter, r *http.Request, info *reqInfo) bool {
	status := hostcheck.StatusForeignHost
	err := p.hosts.CheckHost(r, "--allow-host")
	if err == nil && !p.crossSite {
		status, err = hostcheck.StatusCrossSite, hostcheck.CrossSite(r, "--allow-cross-site")
	}
	if err == nil {
		return true
	}
	p.log.LogAttrs(r.Context(), slog.LevelWarn, "request refused: not forwarded",
		slog.String("method", r.Method), slog.Int("status", status), slog.String("peer", r.RemoteAddr), slog.String("reason", err.Error()))
	info.status = status
	plainError(w, status, "gcptoken proxy: "+err.Error())
	return false
}

// tokenFailed answers a request for which no token could be had: 503 with
// Retry-After when the token endpoint is unreachable or failing, 502 when
// it refused, nothing when the client has gone.
func (p *Proxy) tokenFailed(w http.ResponseWriter, r *http.Request, info *reqInfo, err error) {
	if r.Context().Err() != nil {
		p.m.lookups.With(resultCanceled).Inc()
		info.status = statusClientClosed
		return
	}
	code, result := http.StatusBadGateway, resultRefused
	if gcptoken.IsUnavailable(err) {
		code, result = http.StatusServiceUnavailable, resultUnavailable
		w.Header().Set("Retry-After", retryAfter)
	}
	p.m.lookups.With(result).Inc()
	p.log.LogAttrs(r.Context(), slog.LevelWarn, "no token: request not forwarded",
		slog.String("method", r.Method), slog.Int("status", code), slog.String("error", oneLine(err.Error())))
	info.status = code
	plainError(w, code, "gcptoken proxy: no token for "+p.target.Scheme+"://"+p.target.Host+
		", so the request was not forwarded: "+oneLine(err.Error()))
}

// rewrite sends the request to the target with the token. ReverseProxy
// has already dropped hop-by-hop headers and the client's Forwarded and
// X-Forwarded-* headers; none are added (see the package doc).
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.target) // also makes Host the target's host
	info := infoFrom(pr.In.Context())
	h := pr.Out.Header
	h[p.header] = info.auth
	if p.quotaProject != "" && h.Get(headerQuotaProject) == "" {
		h.Set(headerQuotaProject, p.quotaProject)
	}
	if p.header == HeaderAuthorization {
		// Cloud Run would authenticate a client-supplied
		// X-Serverless-Authorization instead of our Authorization.
		delete(h, HeaderServerlessAuthorization)
	}
	info.upstreamStart = time.Now()
}

func (p *Proxy) modifyResponse(res *http.Response) error {
	info := infoFrom(res.Request.Context())
	if info == nil {
		return nil
	}
	p.m.upstream[upstreamResponse].Observe(time.Since(info.upstreamStart).Seconds())
	info.status = res.StatusCode
	if loc := res.Header["Location"]; len(loc) == 1 {
		if to, ok := p.rewriteLocation(loc[0], info); ok {
			res.Header["Location"] = []string{to}
		}
	}
	return nil
}

// rewriteLocation maps a redirect to the target back onto the proxy: an
// absolute URL on the target's host gets the proxy's scheme and host, and
// the target's path prefix is removed from it and from absolute paths, so
// that following the redirect goes through the proxy again. Other
// locations are left alone.
func (p *Proxy) rewriteLocation(loc string, info *reqInfo) (string, bool) {
	u, err := url.Parse(loc)
	if err != nil || u.Opaque != "" {
		return "", false
	}
	switch {
	case u.Host != "":
		if !strings.EqualFold(u.Host, p.target.Host) || (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https") {
			return "", false
		}
		u.Scheme, u.Host = "http", info.inHost
		if info.inTLS {
			u.Scheme = "https"
		}
	case u.Scheme != "" || !strings.HasPrefix(u.Path, "/"):
		return "", false // relative paths resolve correctly as they are
	}
	if p.prefix != "" {
		path, ok := stripPrefix(u.Path, p.prefix)
		if !ok {
			// Outside the prefix, which the proxy cannot reach: leave it.
			return "", false
		}
		u.Path = path
		if u.RawPath != "" {
			if raw, ok := stripPrefix(u.RawPath, p.target.EscapedPath()); ok {
				u.RawPath = raw
			} else {
				u.RawPath = ""
			}
		}
	}
	return u.String(), true
}

func stripPrefix(path, prefix string) (string, bool) {
	prefix = strings.TrimSuffix(prefix, "/")
	switch {
	case path == prefix:
		return "/", true
	case strings.HasPrefix(path, prefix+"/"):
		return path[len(prefix):], true
	}
	return "", false
}

// upstreamFailed answers a request that got no response from upstream:
// 502 with the reason, or nothing when the client has gone.
func (p *Proxy) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	info := infoFrom(r.Context())
	if info == nil {
		info = &reqInfo{}
	}
	if !info.upstreamStart.IsZero() && info.status == 0 {
		p.m.upstream[upstreamError].Observe(time.Since(info.upstreamStart).Seconds())
	}
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		info.status = statusClientClosed
		return
	}
	msg := oneLine(err.Error())
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		msg = "timed out: " + msg
	}
	p.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream request failed",
		slog.String("method", r.Method), slog.String("upstream", p.target.Host), slog.String("error", msg))
	info.status = http.StatusBadGateway
	plainError(w, http.StatusBadGateway, "gcptoken proxy: upstream "+p.target.Scheme+"://"+p.target.Host+" unreachable: "+msg)
}

func plainError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(msg)+1))
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
}

// oneLine folds a message onto one line for bodies and logs.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Serve serves the proxy on ln, with the background token refresher, until
// ctx ends; then it stops accepting, lets in-flight requests, streams and
// WebSockets finish for up to ShutdownTimeout, cuts what is still open and
// returns nil. It returns early with the error if serving fails.
// Clients may speak HTTP/1.1 or h2c.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { p.RunRefresher(rctx) })
	err := p.serve(ctx, ln, p, true)
	stop()
	wg.Wait()
	if p.ownedTr != nil {
		p.ownedTr.CloseIdleConnections()
	}
	return err
}

// ServeOps serves OpsHandler on ln until ctx ends. Serve it on its own
// listener: the proxied listener forwards every path to the target.
func (p *Proxy) ServeOps(ctx context.Context, ln net.Listener) error {
	return p.serve(ctx, ln, p.OpsHandler(), false)
}

// serve serves h on ln until ctx ends; proxy says whether h is the proxy
// (h2c, and upgraded connections to wait for) or the ops handler.
func (p *Proxy) serve(ctx context.Context, ln net.Listener, h http.Handler, proxy bool) error {
	// Request contexts derive from base, which is cancelled once the grace
	// period is over: that is what ends upgraded connections, which
	// http.Server.Shutdown neither waits for nor closes.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	if proxy {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetHTTP2(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	hs := &httpserve.Options{Grace: p.grace, Cut: func() {
		p.log.Warn("shutdown: requests still open after the grace period were cut", "grace", p.grace)
		cancelBase()
	}}
	if proxy {
		// Shutdown does not wait for upgraded (hijacked) connections such
		// as WebSockets: give them the same grace period.
		hs.Drain = func(ctx context.Context) error { return waitIdle(ctx, &p.active) }
	}
	if err := httpserve.Serve(ctx, srv, ln, hs); err != nil && !errors.Is(err, httpserve.ErrGraceExpired) {
		return fmt.Errorf("authproxy: %w", err)
	}
	return nil
}

func waitIdle(ctx context.Context, active *atomic.Int64) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for active.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// OpsHandler serves the proxy's own endpoints:
//
//   - /healthz: 200 "ok" while the process serves (liveness);
//   - /readyz: 200 when a token can be had now, else 503 with the reason
//     (it goes through the token cache, so it is cheap when healthy);
//   - /metrics: Prometheus text format.
func (p *Proxy) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		tok, err := p.tokens.Token(ctx)
		if err != nil {
			plainError(w, http.StatusServiceUnavailable, "no token: "+oneLine(err.Error()))
			return
		}
		msg := "ok"
		if !tok.Expiry.IsZero() {
			msg += ": token valid until " + tok.Expiry.UTC().Format(time.RFC3339)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(msg + "\n"))
	})
	mux.Handle("GET /metrics", p.m.reg.Handler())
	return mux
}

// RunRefresher asks Tokens for a token now and then every RefreshInterval
// until ctx ends, so the cache renews the token in the background before
// it expires: requests never wait for a renewal, and a long-running proxy
// never serves an expired token. Serve runs it; call it yourself only when
// mounting ServeHTTP in your own server.
func (p *Proxy) RunRefresher(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	failing := false
	for {
		tok, err := p.tokens.Token(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			p.m.refreshes.With(resultError).Inc()
			p.log.Warn("token refresh failed; requests get 502/503 once the current token expires", "error", oneLine(err.Error()))
			failing = true
		default:
			p.m.refreshes.With(resultOK).Inc()
			if !tok.Expiry.IsZero() {
				p.m.expiry.Set(float64(tok.Expiry.Unix()))
			}
			if failing {
				p.log.Info("token refresh recovered")
				failing = false
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// mirrorTransport is the default transport. https targets get HTTP/2 or
// HTTP/1.1 by ALPN. To plain-http targets, gRPC requests that arrived over
// HTTP/2 go over h2c, since gRPC needs HTTP/2 end to end; everything else
// goes over HTTP/1.1, which every server speaks. (Mirroring the client's
// protocol for all requests would break h2c clients such as
// curl --http2-prior-knowledge in front of HTTP/1-only servers, and a
// failed h2c attempt cannot be retried: the request is already sent.)
type mirrorTransport struct {
	h1, h2c *http.Transport
}

func newMirrorTransport() *mirrorTransport {
	h1 := newTransport()
	h1.Protocols = new(http.Protocols)
	h1.Protocols.SetHTTP1(true)
	h1.Protocols.SetHTTP2(true)
	h2c := newTransport()
	h2c.Protocols = new(http.Protocols)
	h2c.Protocols.SetUnencryptedHTTP2(true)
	return &mirrorTransport{h1: h1, h2c: h2c}
}

func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		// Sized for throughput: without enough idle connections a busy
		// proxy closes and redials upstream connections all the time.
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		// Pass Accept-Encoding through as the client sent it: otherwise
		// the transport asks for gzip on the client's behalf and inflates
		// the response, costing CPU and turning a sized body into a
		// chunked one.
		DisableCompression: true,
	}
}

func (m *mirrorTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.ProtoMajor == 2 && r.URL.Scheme == "http" && isGRPC(r.Header.Get("Content-Type")) {
		return m.h2c.RoundTrip(r)
	}
	return m.h1.RoundTrip(r)
}

// isGRPC reports whether ctype is gRPC's (application/grpc, +proto,
// +json, …) and not gRPC-Web's, which works over HTTP/1.1.
func isGRPC(ctype string) bool {
	rest, ok := strings.CutPrefix(ctype, "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

func (m *mirrorTransport) CloseIdleConnections() {
	m.h1.CloseIdleConnections()
	m.h2c.CloseIdleConnections()
}

// bufferPool reuses ReverseProxy's 32 KiB copy buffers.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }
