package metadataserver

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/internal/hostcheck"
	"github.com/gcptoken/gcptoken/internal/httpserve"
)

// ID token formats, as the identity endpoint's format parameter spells them.
const (
	// FormatStandard: iss, sub, aud, azp, iat, exp. The default.
	FormatStandard = "standard"
	// FormatFull adds email, email_verified and google.compute_engine.
	FormatFull = "full"
)

// IDTokenRequest is what an identity request asks for, normalized: Format is
// FormatStandard or FormatFull, and Licenses is only true with FormatFull.
type IDTokenRequest struct {
	Audience string
	Format   string
	Licenses bool
	// Instance is the VM the server describes, for a Source that mints
	// ID tokens as Compute Engine does (their google.compute_engine
	// claim). Sources that pass on what a credential mints ignore it.
	// The server sets it; it is shared and must not be modified.
	Instance *Instance
}

// Instance is what a Compute Engine ID token says about the VM that asked
// for it: the server's options with their defaults applied.
type Instance struct {
	ProjectID, NumericProjectID string
	Zone                        string // the short name, e.g. us-central1-a
	InstanceID, InstanceName    string
	CreationTime                time.Time
	Licenses                    []string
}

// Source is the credential behind the server. Both methods return plain,
// uncached providers and must not do I/O (they run on the request path once
// per new key); the server adds caching. They must be safe for concurrent
// use. An ID token whose audience may differ from the one asked for (user
// credentials cannot choose theirs) should say which it carries in
// Metadata[gcptoken.MetaAudience], as gcptoken's credentials do: the server
// refuses it (see Options.AllowAudienceMismatch).
type Source interface {
	AccessTokenProvider(scopes []string) (gcptoken.TokenProvider, error)
	IDTokenProvider(req IDTokenRequest) (gcptoken.TokenProvider, error)
}

// DefaultScope is the scope of the default account when Options.Scopes is
// empty.
const DefaultScope = credentials.DefaultScope

// Options configures a Server.
type Options struct {
	// Source makes the tokens. Required.
	Source Source
	// ServiceAccountEmail is the default account's email; the account is
	// served as "default" and under this name. Required.
	ServiceAccountEmail string
	// Scopes are the default account's scopes, used for tokens when a
	// request has no ?scopes=. Optional; default [DefaultScope].
	Scopes []string
	// ProjectID is the project id. Required.
	ProjectID string
	// NumericProjectID is the project number. Optional; default a stable
	// 12-digit number derived from ProjectID (SHA-256), so restarts agree.
	NumericProjectID string
	// InstanceID is the instance's numeric id. Optional; default a stable
	// 19-digit number derived from ProjectID, Zone and InstanceName.
	InstanceID string
	// InstanceName is the instance's name. Optional; default "gcptoken-vm".
	InstanceName string
	// Zone is the instance's zone. Optional; default "us-central1-a".
	Zone string
	// Hostname is the instance's hostname. Optional; default
	// "<InstanceName>.c.<ProjectID>.internal" (domain-scoped projects
	// "example.com:p" give "<name>.c.p.example.com.internal").
	Hostname string
	// InstanceAttributes and ProjectAttributes are the custom metadata.
	// Optional.
	InstanceAttributes, ProjectAttributes map[string]string
	// MachineType is the instance's machine type, served as
	// projects/<number>/machineTypes/<MachineType>. Optional; default
	// "e2-medium".
	MachineType string
	// Image is the boot disk's image. Optional; default
	// "projects/debian-cloud/global/images/debian-12-bookworm-v20250101".
	Image string
	// CPUPlatform is instance/cpu-platform. Optional; default "Intel
	// Broadwell".
	CPUPlatform string
	// Description is instance/description. Optional; default "".
	Description string
	// Tags are the instance's network tags (instance/tags, a JSON array).
	// Optional.
	Tags []string
	// Licenses are the license ids of the boot disk's image, served under
	// instance/licenses/ and put in full-format ID tokens asked for with
	// licenses=TRUE. Optional; default one stable 19-digit id derived from
	// Image.
	Licenses []string
	// InternalIP and ExternalIP are the first network interface's
	// addresses (IPv4). Optional; default "10.128.0.2" and "203.0.113.2" (a
	// documentation address). The interface's MAC, gateway and subnet mask
	// follow from InternalIP as on Compute Engine's default network.
	InternalIP, ExternalIP string
	// Network is the first interface's VPC network name. Optional; default
	// "default".
	Network string
	// CreationTime is when the instance was created: the
	// instance_creation_timestamp of full-format ID tokens. Optional;
	// default a stable second in 2024 derived from the instance id.
	CreationTime time.Time
	// UniverseDomain is served at universe/universe-domain. Optional;
	// default "googleapis.com".
	UniverseDomain string
	// MinRemaining is the least lifetime a served token has left. Optional;
	// default 5m, like Google's server, which keeps at least 4–5 minutes.
	MinRemaining time.Duration
	// RefreshBefore is how long before expiry a background refresh starts
	// at the latest: the cache's default jitter (see
	// gcptoken.CacheOptions.RefreshJitter) starts it up to a tenth of the
	// token's lifetime earlier.
	// Optional; default 10m. Must exceed MinRemaining.
	RefreshBefore time.Duration
	// RefreshJitter widens the refresh window per token so that servers
	// started together (a DaemonSet rollout) do not refresh together; see
	// gcptoken.CacheOptions.RefreshJitter. Optional; default a tenth of
	// each token's lifetime; negative disables it.
	RefreshJitter time.Duration
	// MaxIDTokenAudiences bounds the cached (audience, format, licenses)
	// keys; the least recently used is evicted. Optional; default 1000.
	MaxIDTokenAudiences int
	// AllowedHosts are more names clients may address the server by (its
	// Host header), each "name" for any port or "name:port". It always
	// answers IP address literals (but 0.0.0.0 and ::), localhost,
	// metadata.google.internal and metadata; a request for any other name
	// gets 421, because that is what a web page sends when it rebinds its
	// own DNS name to the server's address (DNS rebinding) to read tokens.
	// Optional; `gcptoken metadata-server --allow-host`.
	AllowedHosts []string
	// AllowAudienceMismatch serves ID tokens whose audience is not the one
	// asked for. Without it an identity request gets 400 when the token the
	// Source made carries another audience (Metadata[gcptoken.MetaAudience]):
	// user credentials' ID tokens always name their OAuth client, and a
	// client that asked for its service's audience is better told so at
	// once than refused by the service later. Optional; default false;
	// `gcptoken metadata-server --allow-client-audience`.
	AllowAudienceMismatch bool
	// Logger receives one access log line per request (method, path without
	// query, status, duration, cache hit/miss) and upstream fetch results.
	// Tokens are never logged. Optional; default discards.
	Logger *slog.Logger
	// Now is the clock for token lifetimes. Optional; default time.Now.
	Now func() time.Time
}

func (o *Options) validate() error {
	if o.Source == nil {
		return errors.New("Options.Source is required")
	}
	if o.ServiceAccountEmail == "" {
		return errors.New("Options.ServiceAccountEmail is required")
	}
	if !isAccountName(o.ServiceAccountEmail) {
		return fmt.Errorf("Options.ServiceAccountEmail %q is not an email address (or a workload pool, PROJECT_ID.svc.id.goog)", o.ServiceAccountEmail)
	}
	if o.ProjectID == "" {
		return errors.New("Options.ProjectID is required")
	}
	for _, f := range []struct{ name, v string }{
		{"ServiceAccountEmail", o.ServiceAccountEmail}, {"ProjectID", o.ProjectID},
		{"InstanceName", o.InstanceName}, {"Zone", o.Zone}, {"Hostname", o.Hostname},
		{"UniverseDomain", o.UniverseDomain},
	} {
		if !isPathSafe(f.v) {
			return fmt.Errorf("Options.%s %q must not contain '/', spaces or control characters", f.name, f.v)
		}
	}
	for _, f := range []struct{ name, v string }{{"NumericProjectID", o.NumericProjectID}, {"InstanceID", o.InstanceID}} {
		if f.v != "" && !isDecimal(f.v) {
			return fmt.Errorf("Options.%s %q must be a decimal number without leading zeros", f.name, f.v)
		}
	}
	if err := o.validateInstance(); err != nil {
		return err
	}
	for _, sc := range o.Scopes {
		if sc == "" || strings.ContainsAny(sc, ", \t\n") {
			return fmt.Errorf("Options.Scopes: %q is not a scope", sc)
		}
	}
	for name, m := range map[string]map[string]string{"InstanceAttributes": o.InstanceAttributes, "ProjectAttributes": o.ProjectAttributes} {
		for k := range m {
			if k == "" || !isPathSafe(k) {
				return fmt.Errorf("Options.%s: key %q must be non-empty, without '/', spaces or control characters", name, k)
			}
		}
	}
	if _, err := hostcheck.New(o.AllowedHosts...); err != nil {
		return fmt.Errorf("Options.AllowedHosts: %w", err)
	}
	if o.MinRemaining < 0 || o.RefreshBefore < 0 || o.MaxIDTokenAudiences < 0 {
		return errors.New("Options.MinRemaining, RefreshBefore and MaxIDTokenAudiences must not be negative")
	}
	if d := o.withDefaults(); d.RefreshBefore <= d.MinRemaining {
		return fmt.Errorf("Options.RefreshBefore (%s) must exceed MinRemaining (%s), or tokens would become unusable before a refresh starts",
			d.RefreshBefore, d.MinRemaining)
	}
	return nil
}

// validateInstance checks the options that describe the VM beyond its
// names.
func (o *Options) validateInstance() error {
	for _, f := range []struct{ name, v string }{{"MachineType", o.MachineType}, {"Network", o.Network}} {
		if !isPathSafe(f.v) {
			return fmt.Errorf("Options.%s %q must not contain '/', spaces or control characters", f.name, f.v)
		}
	}
	for _, f := range []struct{ name, v string }{{"Image", o.Image}, {"CPUPlatform", o.CPUPlatform}, {"Description", o.Description}} {
		if strings.ContainsFunc(f.v, unicode.IsControl) {
			return fmt.Errorf("Options.%s %q must not contain control characters", f.name, f.v)
		}
	}
	for _, tag := range o.Tags {
		if tag == "" || !isPathSafe(tag) {
			return fmt.Errorf("Options.Tags: %q is not a network tag", tag)
		}
	}
	for _, id := range o.Licenses {
		if !isDecimal(id) {
			return fmt.Errorf("Options.Licenses: %q is not a license id (a decimal number)", id)
		}
	}
	for _, f := range []struct{ name, v string }{{"InternalIP", o.InternalIP}, {"ExternalIP", o.ExternalIP}} {
		if ip := net.ParseIP(f.v); f.v != "" && (ip == nil || ip.To4() == nil) {
			return fmt.Errorf("Options.%s %q is not an IPv4 address", f.name, f.v)
		}
	}
	return nil
}

// isDecimal reports whether s is a decimal number without leading zeros
// that fits Compute Engine's ids (at most 20 digits).
func isDecimal(s string) bool {
	return s != "" && len(s) <= 20 && strings.Trim(s, "0123456789") == "" && (s[0] != '0' || s == "0")
}

func isPathSafe(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r == '/' || unicode.IsSpace(r) || unicode.IsControl(r) })
}

// withDefaults returns a copy with every optional field set.
func (o *Options) withDefaults() Options {
	c := *o
	if len(c.Scopes) == 0 {
		c.Scopes = []string{DefaultScope}
	}
	c.Scopes = slices.Compact(slices.Clone(c.Scopes))
	if c.NumericProjectID == "" {
		c.NumericProjectID = derivedNumber("numeric-project-id/"+c.ProjectID, 12)
	}
	if c.InstanceName == "" {
		c.InstanceName = "gcptoken-vm"
	}
	if c.Zone == "" {
		c.Zone = "us-central1-a"
	}
	if c.InstanceID == "" {
		c.InstanceID = derivedNumber("instance-id/"+c.ProjectID+"/"+c.Zone+"/"+c.InstanceName, 19)
	}
	if c.Hostname == "" {
		project := c.ProjectID
		if domain, p, ok := strings.Cut(project, ":"); ok {
			project = p + "." + domain
		}
		c.Hostname = c.InstanceName + ".c." + project + ".internal"
	}
	if c.UniverseDomain == "" {
		c.UniverseDomain = "googleapis.com"
	}
	c.instanceDefaults()
	if c.MinRemaining == 0 {
		c.MinRemaining = 5 * time.Minute
	}
	if c.RefreshBefore == 0 {
		c.RefreshBefore = 10 * time.Minute
	}
	if c.MaxIDTokenAudiences == 0 {
		c.MaxIDTokenAudiences = 1000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// instanceDefaults sets the optional fields that describe the VM.
func (c *Options) instanceDefaults() {
	c.MachineType = cmp.Or(c.MachineType, "e2-medium")
	c.Image = cmp.Or(c.Image, "projects/debian-cloud/global/images/debian-12-bookworm-v20250101")
	c.CPUPlatform = cmp.Or(c.CPUPlatform, "Intel Broadwell")
	c.InternalIP = cmp.Or(c.InternalIP, "10.128.0.2")
	c.ExternalIP = cmp.Or(c.ExternalIP, "203.0.113.2")
	c.Network = cmp.Or(c.Network, "default")
	if c.Licenses == nil {
		c.Licenses = []string{derivedNumber("license/"+c.Image, 19)}
	}
	if c.CreationTime.IsZero() {
		// A second of 2024, so that tokens say the VM is older than they are.
		jan2024 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		secs, _ := strconv.ParseInt(derivedNumber("created/"+c.InstanceID, 9), 10, 64)
		c.CreationTime = jan2024.Add(time.Duration(secs%(366*24*3600)) * time.Second)
	}
}

// derivedNumber is a stable decimal number of the given digits (at most 19)
// derived from seed, never starting with 0.
func derivedNumber(seed string, digits int) string {
	sum := sha256.Sum256([]byte("gcptoken-metadataserver/" + seed))
	lo := uint64(1)
	for range digits - 1 {
		lo *= 10
	}
	return strconv.FormatUint(lo+binary.BigEndian.Uint64(sum[:8])%(9*lo), 10)
}

// Server is the metadata server. It is safe for concurrent use.
type Server struct {
	opts   Options
	now    func() time.Time
	log    *slog.Logger
	routes map[string]*route
	m      *metrics
	hosts  *hostcheck.Guard

	instance      *Instance   // for IDTokenRequest.Instance
	defaultKey    string      // the default scopes, normalized
	defaultAccess *tokenEntry // never evicted
	access, ids   *providerCache
	upstreamWait  time.Duration // upstreamWait; shortened by tests
}

// New validates opts and returns a Server. It asks the Source for the
// default account's provider, so a Source that cannot make one fails here.
func New(opts *Options) (*Server, error) {
	if opts == nil {
		return nil, errors.New("metadataserver: Options are required")
	}
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("metadataserver: %w", err)
	}
	o := opts.withDefaults()
	s := &Server{
		opts:   o,
		now:    o.Now,
		log:    o.Logger,
		routes: map[string]*route{},
		m:      newMetrics(),
		hosts:  newGuard(o.AllowedHosts),
		access: &providerCache{max: maxAccessKeys},
		ids:    &providerCache{max: o.MaxIDTokenAudiences},

		upstreamWait: upstreamWait,
	}
	flatten(buildTree(&o, o.Scopes), "", s.routes)
	s.instance = &Instance{
		ProjectID: o.ProjectID, NumericProjectID: o.NumericProjectID, Zone: o.Zone,
		InstanceID: o.InstanceID, InstanceName: o.InstanceName, CreationTime: o.CreationTime.UTC(),
		Licenses: slices.Clone(o.Licenses),
	}

	scopes := normalizeScopes(strings.Join(o.Scopes, ","))
	s.defaultKey = strings.Join(scopes, ",")
	s.defaultAccess = &tokenEntry{ready: make(chan struct{})}
	close(s.defaultAccess.ready)
	s.defaultAccess.built.Store(true)
	p, err := o.Source.AccessTokenProvider(scopes)
	if err != nil {
		return nil, fmt.Errorf("metadataserver: access tokens for %s: %w", s.defaultKey, err)
	}
	s.defaultAccess.provider = s.newEntryProvider(s.defaultAccess, kindAccess, "scopes="+s.defaultKey, p)
	return s, nil
}

// Prewarm fetches the default account's access token, so that the first
// client does not wait for it.
func (s *Server) Prewarm(ctx context.Context) error {
	if _, err := s.token(ctx, s.defaultAccess, kindAccess, &reqState{}); err != nil {
		return fmt.Errorf("metadataserver: prewarm: %w", err)
	}
	return nil
}

// Timeouts of Serve. Reads are short (requests are header-only GETs);
// writes allow for the longest token wait, and wait_for_change extends its
// own deadline.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = upstreamWait + 15*time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 5 * time.Second
)

type quitKey struct{}

// Serve serves on ln until ctx is done, then shuts down gracefully: pending
// wait_for_change requests return at once, others get 5 s to finish. It
// returns nil after a clean shutdown, or the error that stopped serving.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return serveHandler(ctx, ln, s, s.log)
}

// serveHandler is Serve for any handler of this package (Server,
// PodIdentityServer).
func serveHandler(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	quit := make(chan struct{})
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), quitKey{}, (<-chan struct{})(quit))
		},
	}
	err := httpserve.Serve(ctx, srv, ln, &httpserve.Options{Grace: shutdownTimeout, Stopping: func() { close(quit) }})
	if err != nil {
		return fmt.Errorf("metadataserver: %w", err)
	}
	return nil
}

// metadataNames are the names Google's clients address the metadata server
// by, besides its address: metadata.google.internal (Go, Python, Node) and
// the short name Compute Engine's DNS search path resolves.
var metadataNames = []string{"metadata.google.internal", "metadata"}

// newGuard returns the Host guard for validated extra names.
func newGuard(extra []string) *hostcheck.Guard {
	g, err := hostcheck.New(append(slices.Clone(metadataNames), extra...)...)
	if err != nil {
		panic("metadataserver: " + err.Error()) // validate checked extra
	}
	return g
}

// browserGuard refuses what only a web page would send, and reports
// whether to go on: a Host the server does not serve (DNS rebinding, 421)
// and a request a browser marks as coming from another site (403).
// Metadata-Flavor alone does not stop a rebound page, which is same-origin
// as far as its browser knows and may set any header; nor a page whose
// preflight was refused, which still learns nothing, but has no business
// here either.
func (s *Server) browserGuard(w http.ResponseWriter, r *http.Request, st *reqState) bool {
	status := hostcheck.StatusForeignHost
	err := s.hosts.CheckHost(r, "--allow-host")
	if err == nil {
		status, err = hostcheck.StatusCrossSite, hostcheck.CrossSite(r, "")
	}
	if err == nil {
		return true
	}
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "request refused", slog.String("source", r.RemoteAddr),
		slog.Int("status", status), slog.String("reason", err.Error()))
	s.plain(w, st, status, err.Error())
	return false
}

// reqState is what a request's answer was, for logs and metrics.
type reqState struct {
	endpoint string
	status   int
	cache    string // "hit" or "miss" for tokens
}

// statusClientClosed records requests whose client left before the answer
// (nginx's convention); nothing is written.
const statusClientClosed = 499

// Headers of every response. The shared slices are only read by net/http.
var (
	hdrFlavor  = []string{"Google"}
	hdrServer  = []string{"Metadata Server for VM"}
	hdrXSS     = []string{"0"}
	hdrFrame   = []string{"SAMEORIGIN"}
	hdrCtypes  = map[string][]string{ctText: {ctText}, ctJSON: {ctJSON}}
	hdrNoSniff = []string{"nosniff"}
)

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.m.inflight.Add(1)
	st := reqState{endpoint: epOther}
	func() {
		defer s.m.inflight.Add(-1) // even if a handler panics
		s.serve(w, r, &st)
	}()
	s.m.requests.With(st.endpoint, codeLabel(st.status)).Inc()
	if s.log.Enabled(r.Context(), slog.LevelInfo) {
		path := r.URL.Path
		if len(path) > 256 {
			path = path[:256] + "…"
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method), slog.String("path", path),
			slog.Int("status", st.status), slog.Duration("duration", time.Since(start)),
		}
		if st.cache != "" {
			attrs = append(attrs, slog.String("cache", st.cache))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	}
}

const (
	prefix      = "/computeMetadata/"
	v1          = prefix + "v1/"
	maxQueryLen = 8 << 10
)

// serve answers one request in the order the real server checks it: the
// headers every answer carries, browsers kept out, the operational paths,
// the refusals of proxied and flavourless requests, then the tree.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, st *reqState) {
	h := w.Header()
	h["Metadata-Flavor"] = hdrFlavor // on every response: Node rejects any without it
	h["Server"] = hdrServer
	h["X-Xss-Protection"] = hdrXSS
	h["X-Frame-Options"] = hdrFrame
	h["X-Content-Type-Options"] = hdrNoSniff

	if !s.browserGuard(w, r, st) || s.serveOps(w, r, st) {
		return
	}
	path := r.URL.Path
	rest, inV1 := strings.CutPrefix(path, v1)
	var rt *route
	if inV1 {
		if rt = s.routes[rest]; rt != nil {
			st.endpoint = rt.endpoint
		}
	} else if path == "/" || path == prefix {
		st.endpoint = epRoot
	}
	if !s.admit(w, r, st) || !s.serveDirectories(w, r, st, rt, rest, inV1) {
		return
	}
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		code := http.StatusBadRequest
		if len(r.URL.RawQuery) > maxQueryLen {
			code = http.StatusRequestURITooLong
		}
		s.plain(w, st, code, err.Error())
		return
	}
	switch rt.kind {
	case kindToken:
		s.serveToken(w, r, q, st)
	case kindIdentity:
		s.serveIdentity(w, r, q, st)
	default:
		s.serveStatic(w, r, rt, q, st)
	}
}

// serveOps answers /healthz and /metrics, and reports whether it did.
func (s *Server) serveOps(w http.ResponseWriter, r *http.Request, st *reqState) bool {
	switch r.URL.Path {
	case "/healthz":
		if s.methodOK(w, r, st) {
			s.write(w, st, http.StatusOK, "text/plain; charset=utf-8", []byte("ok\n"), false)
		}
		return true
	case "/metrics":
		if s.methodOK(w, r, st) {
			st.status = http.StatusOK
			s.m.reg.Handler().ServeHTTP(w, r)
		}
		return true
	}
	return false
}

// admit refuses what the real server refuses before looking at the path
// (proxied requests, requests without Metadata-Flavor: Google, other
// methods) and answers the root probe; it reports whether to go on.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, st *reqState) bool {
	path := r.URL.Path
	if _, ok := r.Header["X-Forwarded-For"]; ok {
		// The real server refuses proxied requests: a proxy that forwards
		// to the metadata server is how SSRF steals tokens [emu].
		s.plain(w, st, http.StatusForbidden, "Request contains X-Forwarded-For header and is forbidden")
		return false
	}
	if path == "/" {
		// Go's OnGCE probe sends no Metadata-Flavor and only looks at the
		// response header; Python's ping wants 200.
		if s.methodOK(w, r, st) {
			s.write(w, st, http.StatusOK, ctText, []byte("computeMetadata/\n"), false)
		}
		return false
	}
	if !strings.HasPrefix(path, "/computeMetadata") {
		s.notFound(w, r, st)
		return false
	}
	if v := r.Header["Metadata-Flavor"]; len(v) != 1 || v[0] != "Google" {
		s.plain(w, st, http.StatusForbidden, `Missing required header "Metadata-Flavor": "Google"`)
		return false
	}
	return s.methodOK(w, r, st)
}

// serveDirectories answers the paths above the tree's entries (redirects
// to the slashed form, the version listing, 404s) and reports whether rt is
// an entry to serve.
func (s *Server) serveDirectories(w http.ResponseWriter, r *http.Request, st *reqState, rt *route, rest string, inV1 bool) bool {
	path := r.URL.Path
	switch {
	case path == "/computeMetadata" || path == "/computeMetadata/v1":
		s.redirect(w, r, st, path+"/")
	case path == prefix:
		s.write(w, st, http.StatusOK, ctText, []byte("v1/\n"), true)
	case rt == nil && inV1 && !strings.HasSuffix(rest, "/") && s.routes[rest+"/"] != nil:
		// A directory without its slash. Node's detection probe asks
		// for .../instance and follows the redirect [emu].
		s.redirect(w, r, st, path+"/")
	case rt == nil:
		s.notFound(w, r, st)
	default:
		return true
	}
	return false
}

// query is a parsed query string; nil when there is none.
type query url.Values

func (q query) get(k string) string {
	if v := q[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func parseQuery(raw string) (query, error) {
	if raw == "" {
		return nil, nil
	}
	if len(raw) > maxQueryLen {
		return nil, fmt.Errorf("query longer than %d bytes", maxQueryLen)
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil, errors.New("malformed query string")
	}
	return query(v), nil
}

// serveStatic answers a value or a directory, honouring recursive, alt and
// wait_for_change.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request, rt *route, q query, st *reqState) {
	alt := q.get("alt")
	if alt != "" && alt != "json" && alt != "text" {
		s.plain(w, st, http.StatusBadRequest, `invalid alt parameter: want "json" or "text"`)
		return
	}
	var rep rep
	switch {
	case rt.dir && strings.EqualFold(q.get("recursive"), "true"):
		rep = rt.recJSON // recursive output defaults to JSON
		if alt == "text" {
			rep = rt.recText
		}
	case alt == "json":
		rep = rt.json
	default:
		rep = rt.text
	}
	if strings.EqualFold(q.get("wait_for_change"), "true") {
		if !s.waitForChange(w, r, q, rep.etag, st) {
			return
		}
	}
	w.Header()["Etag"] = []string{rep.etag}
	s.write(w, st, http.StatusOK, rep.ctype, rep.body, false)
}

const maxWait = 60 * time.Second

// waitForChange holds a wait_for_change request while its value is the one
// the client has, up to timeout_sec (default and maximum 60 s). Values here
// never change, so the wait only ends by timeout, client or shutdown. It
// reports whether to answer.
func (s *Server) waitForChange(w http.ResponseWriter, r *http.Request, q query, etag string, st *reqState) bool {
	if last := q.get("last_etag"); last != "" && last != etag {
		return true // the client's copy is out of date: answer now
	}
	wait := maxWait
	if v := q.get("timeout_sec"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.plain(w, st, http.StatusBadRequest, "invalid timeout_sec parameter: want a non-negative integer")
			return false
		}
		wait = min(time.Duration(n)*time.Second, maxWait)
	}
	if wait == 0 {
		return true
	}
	// Serve's WriteTimeout would cut a long wait off: move this response's
	// deadline past it. (Not every ResponseWriter supports that.)
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 10*time.Second))
	quit, _ := r.Context().Value(quitKey{}).(<-chan struct{})
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-quit:
	case <-r.Context().Done():
		st.status = statusClientClosed
		return false
	}
	return true
}

func (s *Server) methodOK(w http.ResponseWriter, r *http.Request, st *reqState) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header()["Allow"] = []string{"GET, HEAD"}
	s.plain(w, st, http.StatusMethodNotAllowed, "Method Not Allowed: only GET and HEAD are supported")
	return false
}

func (s *Server) redirect(w http.ResponseWriter, r *http.Request, st *reqState, to string) {
	if r.URL.RawQuery != "" {
		to += "?" + r.URL.RawQuery
	}
	w.Header()["Location"] = []string{to}
	s.write(w, st, http.StatusMovedPermanently, ctText, nil, false)
}

// notFoundPage is the shape of Google's 404 page [obs].
const notFoundPage = `<!DOCTYPE html>
<html lang=en>
  <meta charset=utf-8>
  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">
  <title>Error 404 (Not Found)!!1</title>
  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>
  <p><b>404.</b> <ins>That’s an error.</ins>
  <p>The requested URL <code>%s</code> was not found on this server.  <ins>That’s all we know.</ins>
`

func (s *Server) notFound(w http.ResponseWriter, r *http.Request, st *reqState) {
	path := r.URL.Path
	if len(path) > 200 {
		path = path[:200] + "…"
	}
	body := fmt.Sprintf(notFoundPage, html.EscapeString(path))
	s.write(w, st, http.StatusNotFound, "text/html; charset=UTF-8", []byte(body), false)
}

// plain writes a one-line text error.
func (s *Server) plain(w http.ResponseWriter, st *reqState, code int, msg string) {
	s.write(w, st, code, "text/plain; charset=utf-8", []byte(msg+"\n"), false)
}

// write sends a complete response; withETag adds the body's ETag.
func (s *Server) write(w http.ResponseWriter, st *reqState, code int, ctype string, body []byte, withETag bool) {
	h := w.Header()
	if v, ok := hdrCtypes[ctype]; ok {
		h["Content-Type"] = v
	} else {
		h["Content-Type"] = []string{ctype}
	}
	if withETag {
		h["Etag"] = []string{etagOf(body)}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(code)
	_, _ = w.Write(body)
	st.status = code
}
