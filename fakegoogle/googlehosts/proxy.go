package googlehosts

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/httpserve"
)

// Options configures a Proxy.
type Options struct {
	// Fake answers every request for an emulated Google host, usually a
	// *fakegoogle.Server. Required.
	Fake http.Handler
	// CA issues the hosts' TLS certificates. Required.
	CA *CA
	// Metadata answers plain-HTTP requests for metadata.google.internal and
	// 169.254.169.254 (proxied as absolute-form requests, or tunnelled with
	// CONNECT to port 80), usually a *metadataserver.Server. Optional; when
	// nil such requests are refused like any other host.
	Metadata http.Handler
	// MetadataAliases are more "host:port" names of the metadata server,
	// e.g. the loopback address in GCE_METADATA_HOST: gcloud sends even
	// those through its proxy. Plain-HTTP requests for them go to Metadata
	// too. Optional; ignored when Metadata is nil.
	MetadataAliases []string
	// FakeAliases are "host:port" addresses at which Fake itself listens
	// (the emulator's --listen address). Plain-HTTP requests for them go
	// to Fake: gcloud sends every request through its proxy property,
	// loopback included, among them an AWS external_account's requests
	// to the fake's instance metadata (/latest/…). Optional.
	FakeAliases []string
	// Logger receives one line per tunnel and per refusal (hosts and paths
	// only: queries and bodies can carry tokens). Optional; default
	// discards.
	Logger *slog.Logger
	// UniverseDomain is the universe whose hosts are emulated (HostsIn):
	// that of the Fake (fakegoogle.Options.UniverseDomain). Optional;
	// default googleapis.com. CA must be allowed to certify its hosts
	// (NewCA and LoadOrCreateCA with HostsIn(UniverseDomain)).
	UniverseDomain string
}

func (o *Options) validate() error {
	switch {
	case o.Fake == nil:
		return errors.New("googlehosts: Options.Fake is required")
	case o.CA == nil:
		return errors.New("googlehosts: Options.CA is required")
	}
	if o.UniverseDomain != "" {
		if err := endpoints.CheckUniverseDomain(o.UniverseDomain); err != nil {
			return fmt.Errorf("googlehosts: Options.UniverseDomain: %w", err)
		}
	}
	for _, h := range HostsIn(o.UniverseDomain) {
		if !o.CA.permits(h) {
			return fmt.Errorf("googlehosts: the CA may not certify %s (its name constraints predate the universe); "+
				"make it with the universe's hosts (LoadOrCreateCA(dir, now, HostsIn(universe)...))", h)
		}
	}
	return nil
}

// Proxy is an http.Handler to use as HTTP proxy (HTTPS_PROXY). It answers
// CONNECT to an emulated Google host itself, over TLS with a certificate
// from the CA; proxies plain-HTTP metadata-server requests to Metadata; and
// refuses everything else with 403. Call Close when done (Serve does).
//
// The CONNECT handling is written here with net/http's Hijacker and
// crypto/tls rather than taken from a MITM proxy library: such libraries
// exist to forward traffic upstream, which is exactly what this proxy must
// never do, and what is left (reply 200, wrap the connection in tls.Server,
// hand it to an http.Server) is a few lines of the standard library.
type Proxy struct {
	fake        http.Handler
	metadata    http.Handler
	aliases     []string // of the metadata server
	fakeAliases []string
	ca          *CA
	log         *slog.Logger
	routes      table // the emulated hosts, of Options.UniverseDomain

	// Tunnelled connections are served by two in-process http.Servers fed
	// through channel listeners, so keep-alive, timeouts and shutdown are
	// net/http's.
	tlsLn, plainLn   *connListener
	tlsSrv, plainSrv *http.Server
	startOnce        sync.Once
}

// New returns a Proxy.
func New(opts *Options) (*Proxy, error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	p := &Proxy{fake: opts.Fake, metadata: opts.Metadata, aliases: opts.MetadataAliases, fakeAliases: opts.FakeAliases,
		ca: opts.CA, log: opts.Logger, routes: routesIn(opts.UniverseDomain)}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	// Handshake failures (a client that does not trust the CA) are the
	// first thing a user needs to see.
	errLog := slog.NewLogLogger(p.log.Handler(), slog.LevelWarn)
	p.tlsLn, p.plainLn = newConnListener(), newConnListener()
	p.tlsSrv = &http.Server{Handler: http.HandlerFunc(p.serveGoogle), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	p.plainSrv = &http.Server{Handler: http.HandlerFunc(p.serveTunnelledMetadata), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	return p, nil
}

// Serve serves the proxy on ln until ctx is done, then shuts down (within
// httpserve.DefaultGrace) and closes the tunnels still open. It returns
// nil after a shutdown caused by ctx.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	addr := ln.Addr()
	err := httpserve.Serve(ctx, srv, ln, nil)
	p.Close()
	if err != nil {
		return fmt.Errorf("googlehosts: serve %s: %w", addr, err)
	}
	return nil
}

// Close closes every tunnelled connection. The outer listener is the
// caller's (or Serve's) to close.
func (p *Proxy) Close() error {
	p.tlsLn.Close()
	p.plainLn.Close()
	return errors.Join(p.tlsSrv.Close(), p.plainSrv.Close())
}

// TLSConfig returns a server configuration that presents, for the SNI name
// of each connection, a certificate for that emulated host. With
// GoogleHandler it serves the hosts directly, for setups that point Google's
// names at the emulator by DNS (/etc/hosts) instead of using the proxy.
func (p *Proxy) TLSConfig() *tls.Config {
	return p.tlsConfig("")
}

// GoogleHandler returns the handler that answers requests for the emulated
// hosts, routing on Host.
func (p *Proxy) GoogleHandler() http.Handler { return http.HandlerFunc(p.serveGoogle) }

func (p *Proxy) tlsConfig(connectHost string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Each connection gets the certificate and protocols of its host.
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			name := strings.ToLower(hello.ServerName)
			if name == "" {
				name = connectHost // clients that connect by address send no SNI
			}
			if connectHost != "" && name != connectHost {
				return nil, fmt.Errorf("googlehosts: TLS server name %q differs from the CONNECT host %q", name, connectHost)
			}
			if !p.routes.emulated(name) {
				return nil, fmt.Errorf("googlehosts: no certificate for %q: not an emulated host", name)
			}
			leaf, err := p.ca.Leaf(name)
			if err != nil {
				return nil, err
			}
			return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*leaf}, NextProtos: p.nextProtos(name)}, nil
		},
	}
}

// nextProtos are the ALPN protocols offered for host: HTTP/1.1, which
// every client of Google's auth endpoints speaks, and HTTP/2 only where a
// client needs it, gRPC to IAM Credentials, so every other host keeps one
// simple path (and the fake's faults can still drop a connection).
func (p *Proxy) nextProtos(host string) []string {
	if p.routes.servesGRPC(host) {
		return []string{"h2", "http/1.1"}
	}
	return []string{"http/1.1"}
}

// ServeHTTP implements the proxy.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect:
		p.connect(w, r)
	case r.URL.IsAbs():
		p.forward(w, r)
	default:
		p.refuse(w, r, http.StatusBadRequest, r.Host,
			"this is an HTTP proxy for a fake Google, not a web server: set HTTPS_PROXY=http://"+r.Host+" and send requests to Google's URLs")
	}
}

// connect intercepts a CONNECT tunnel to an emulated host.
func (p *Proxy) connect(w http.ResponseWriter, r *http.Request) {
	host, port := splitHostPort(r.Host, "443")
	var ln *connListener
	switch {
	case p.routes.emulated(host) && port == "443":
		ln = p.tlsLn
	case isMetadataHost(host) && port == "80" && p.metadata != nil:
		// https-proxy-agent (Node) tunnels even plain-HTTP requests.
		ln = p.plainLn
	case isMetadataHost(host):
		p.refuse(w, r, http.StatusForbidden, r.Host,
			"the metadata route is off (no Options.Metadata; `gcptoken emulator` needs --metadata-listen), or the port is not 80")
		return
	case p.routes.emulated(host):
		p.refuse(w, r, http.StatusForbidden, r.Host, "Google serves "+host+" on port 443 only")
		return
	default:
		p.refuseHost(w, r, r.Host)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "googlehosts: this server cannot take over the connection for a CONNECT tunnel", http.StatusInternalServerError)
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		p.log.Error("googlehosts: hijack CONNECT", "host", r.Host, "err", err)
		return
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		conn.Close()
		return
	}
	var c net.Conn = conn
	if n := brw.Reader.Buffered(); n > 0 {
		// The client did not wait for our answer: its first bytes were
		// read with the CONNECT line.
		early, _ := brw.Reader.Peek(n)
		c = &prefixConn{Conn: conn, r: io.MultiReader(strings.NewReader(string(early)), conn)}
	}
	if ln == p.tlsLn {
		c = tls.Server(c, p.tlsConfig(host))
	}
	p.log.Debug("googlehosts: tunnel", "host", r.Host)
	p.startOnce.Do(func() {
		go p.tlsSrv.Serve(p.tlsLn)
		go p.plainSrv.Serve(p.plainLn)
	})
	if !ln.push(c) {
		c.Close()
	}
}

// forward answers an absolute-form (plain-HTTP proxy) request.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request) {
	host, port := splitHostPort(r.URL.Host, "80")
	alias := slices.Contains(p.aliases, r.URL.Host)
	switch {
	case r.URL.Scheme == "http" && (isMetadataHost(host) && port == "80" || alias) && p.metadata != nil:
		p.log.Debug("googlehosts: metadata", "method", r.Method, "host", host, "path", r.URL.Path)
		p.metadata.ServeHTTP(w, originForm(r))
	case r.URL.Scheme == "http" && slices.Contains(p.fakeAliases, r.URL.Host):
		p.log.Debug("googlehosts: fake by address", "method", r.Method, "host", r.URL.Host, "path", r.URL.Path)
		p.fake.ServeHTTP(w, originForm(r))
	case isMetadataHost(host):
		p.refuse(w, r, http.StatusForbidden, r.URL.Host,
			"the metadata route is off (no Options.Metadata; `gcptoken emulator` needs --metadata-listen), or the request is not http:// on port 80")
	case p.routes.emulated(host):
		p.refuse(w, r, http.StatusForbidden, r.URL.Host, "Google serves "+host+" over HTTPS only: use https://"+host)
	default:
		p.refuseHost(w, r, r.URL.Host)
	}
}

// originForm turns an absolute-form proxy request into the request its
// server would have received directly.
func originForm(r *http.Request) *http.Request {
	r2 := r.Clone(r.Context())
	r2.URL.Scheme, r2.URL.Host = "", ""
	r2.RequestURI = r2.URL.RequestURI()
	r2.Host = r.URL.Host
	r2.Header.Del("Proxy-Connection")
	r2.Header.Del("Proxy-Authorization")
	return r2
}

func (p *Proxy) refuseHost(w http.ResponseWriter, r *http.Request, target string) {
	p.refuse(w, r, http.StatusForbidden, target,
		"not a host the fake Google emulates, and this proxy never forwards to the internet (emulated: "+
			strings.Join(p.routes.hosts(), ", ")+"; metadata.google.internal over http when the metadata route is on)")
}

func (p *Proxy) refuse(w http.ResponseWriter, r *http.Request, status int, target, why string) {
	p.log.Warn("googlehosts: refused", "method", r.Method, "target", target, "reason", why)
	w.Header().Set("Connection", "close")
	http.Error(w, fmt.Sprintf("gcptoken fake Google proxy: refusing %s %s: %s", r.Method, target, why), status)
}

// serveGoogle answers a request that arrived over TLS for an emulated host.
func (p *Proxy) serveGoogle(w http.ResponseWriter, r *http.Request) {
	host, _ := splitHostPort(r.Host, "443")
	if !p.routes.emulated(host) {
		p.refuse(w, r, http.StatusMisdirectedRequest, r.Host, "not an emulated Google host")
		return
	}
	if !p.routes.hostServes(host, r.URL.Path) {
		// Google's 404 page, as Google answers; the hint is for the log.
		hint := ""
		if u, ok := p.routes.googleURL(r.URL.Path); ok {
			hint = u
		}
		p.log.Warn("googlehosts: path not served by host", "host", host, "path", r.URL.Path, "google_serves_it_at", hint)
		fakegoogle.WriteNotFound(w, r)
		return
	}
	p.log.Debug("googlehosts: request", "method", r.Method, "host", host, "path", r.URL.Path)
	p.fake.ServeHTTP(w, r)
}

// serveTunnelledMetadata answers a plain-HTTP request tunnelled with
// CONNECT metadata.google.internal:80.
func (p *Proxy) serveTunnelledMetadata(w http.ResponseWriter, r *http.Request) {
	host, _ := splitHostPort(r.Host, "80")
	if !isMetadataHost(host) {
		p.refuse(w, r, http.StatusMisdirectedRequest, r.Host, "a metadata-server tunnel carried a request for another host")
		return
	}
	p.log.Debug("googlehosts: metadata", "method", r.Method, "host", host, "path", r.URL.Path)
	p.metadata.ServeHTTP(w, r)
}

// connListener is a net.Listener fed with tunnelled connections.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return tunnelAddr{} }

type tunnelAddr struct{}

func (tunnelAddr) Network() string { return "tunnel" }
func (tunnelAddr) String() string  { return "connect-tunnel" }

// prefixConn replays bytes read ahead of the hijack.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(b []byte) (int, error) { return c.r.Read(b) }
