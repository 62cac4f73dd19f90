package fakegoogle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/hostcheck"
)

// Options configures a Server. The zero value (or nil) is ready to use.
type Options struct {
	// Now is the clock used for iat/exp of issued tokens and for every
	// expiry check. Optional; default time.Now. Tests inject a fixed clock
	// to exercise time windows without sleeping.
	Now func() time.Time
	// TokenLifetime is how long issued tokens live. Optional; default 1h.
	// Access tokens report expires_in = lifetime-1s (3599, like Google); ID
	// tokens carry exp = iat+lifetime.
	TokenLifetime time.Duration
	// Logger receives request and warning logs. Optional; default discards.
	// The fake never logs token values or keys.
	Logger *slog.Logger
	// DevicePollInterval is the polling interval the device flow hands
	// out; polls closer together get slow_down. Optional; default 5s,
	// Google's. Whole seconds, at least 1.
	DevicePollInterval time.Duration
	// RSAKeyBits is the size of every RSA key the fake generates. Optional;
	// default 2048. Must be at least 1024, the minimum crypto/rsa accepts;
	// 1024 makes key generation several times faster in tests.
	RSAKeyBits int
	// UniverseDomain is the universe the fake stands for. Optional;
	// default "googleapis.com", Google's public universe. In another
	// universe (e.g. "universe.test") the fake behaves as Google does
	// there (see universe.go): its credential files carry that
	// universe_domain, the token endpoint refuses service-account
	// assertions (keys sign their own JWTs), the APIs check self-signed
	// JWTs' audiences against the universe's service names
	// (iamcredentials.{universe}, …), and DefaultServiceAccount may mint
	// ID tokens of itself through generateIdToken.
	UniverseDomain string
}

func (o *Options) validate() error {
	if o.TokenLifetime < 0 {
		return fmt.Errorf("fakegoogle: TokenLifetime %v is negative", o.TokenLifetime)
	}
	if o.TokenLifetime != 0 && o.TokenLifetime < 2*time.Second {
		return fmt.Errorf("fakegoogle: TokenLifetime %v is too short (minimum 2s)", o.TokenLifetime)
	}
	if o.DevicePollInterval < 0 || o.DevicePollInterval%time.Second != 0 {
		return fmt.Errorf("fakegoogle: DevicePollInterval %v is not a whole number of seconds", o.DevicePollInterval)
	}
	if o.RSAKeyBits != 0 && (o.RSAKeyBits < 1024 || o.RSAKeyBits > 8192) {
		return fmt.Errorf("fakegoogle: RSAKeyBits %d out of range [1024, 8192]", o.RSAKeyBits)
	}
	if o.UniverseDomain != "" {
		if err := endpoints.CheckUniverseDomain(o.UniverseDomain); err != nil {
			return fmt.Errorf("fakegoogle: UniverseDomain: %w", err)
		}
	}
	return nil
}

// Default identities registered by New, so `gcptoken demo` works without
// setup.
const (
	// DefaultServiceAccount is the service account every new Server has.
	DefaultServiceAccount = "demo-sa@fake-project.iam.gserviceaccount.com"
	// DefaultProjectID is the project of DefaultServiceAccount.
	DefaultProjectID = "fake-project"
	// DefaultUser is the user every new Server has.
	DefaultUser = "demo-user@example.com"
	// DefaultClientID is the OAuth client gcloud uses for application
	// default credentials; every new Server knows it.
	DefaultClientID = "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com"
	// DefaultClientSecret is the fake's secret for DefaultClientID. It is
	// not gcloud's real secret.
	DefaultClientSecret = "fakegoogle-client-secret"
)

// Server is an http.Handler serving every fake endpoint on one mux. It is
// safe for concurrent use.
type Server struct {
	now      func() time.Time
	lifetime time.Duration
	log      *slog.Logger
	bits     int
	universe string // never ""
	mux      *http.ServeMux

	mu          sync.Mutex
	base        string
	signing     []*rsaKey // published at the cert endpoints; signing uses [0]
	sas         map[string]*serviceAccount
	users       map[string]*User
	clients     map[string]string // client id → secret
	refresh     map[string]*refreshGrant
	access      map[string]*accessGrant
	requests    map[string]int       // path → count
	fed         *federation          // identity pools, fake AWS and OIDC provider (federation.go)
	projects    map[string]*Project  // by id (crm.go)
	system      map[string][]*rsaKey // keys of Google-owned accounts (firebase.go)
	extraScopes map[string]bool      // AllowScopes (scopes.go)
	iapKeys     []*ecKey             // IAP's signing keys; signing uses [0] (iap.go)

	faults faultInjector // injected failures and clock skew (faults.go)
	authz  authzState    // authorization endpoint: web clients, consent pages, codes (authorize.go)
	device deviceState   // device authorization grant (device.go)

	pollInterval time.Duration // the device flow's polling interval

	observer atomic.Pointer[observer] // Observe's function, nil for none (observe.go)
}

// New returns a Server with two signing keys and the default service
// accounts (DefaultServiceAccount, and DefaultTargetServiceAccount on which
// DefaultServiceAccount and DefaultUser are Token Creators), user and OAuth
// client. Keys are generated in the background, so
// New returns quickly; the first request that needs a key waits for it.
func New(opts *Options) (*Server, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TokenLifetime == 0 {
		o.TokenLifetime = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RSAKeyBits == 0 {
		o.RSAKeyBits = 2048
	}
	if o.DevicePollInterval == 0 {
		o.DevicePollInterval = defaultPollInterval
	}
	if o.UniverseDomain == "" {
		o.UniverseDomain = endpoints.DefaultUniverse
	}
	s := &Server{
		now:      o.Now,
		lifetime: o.TokenLifetime,
		log:      o.Logger,
		bits:     o.RSAKeyBits,
		universe: o.UniverseDomain,
		// Google publishes two or three keys at once; two lets clients meet
		// a JWKS with a key they do not use.
		signing:      []*rsaKey{generateKey(o.RSAKeyBits), generateKey(o.RSAKeyBits)},
		sas:          map[string]*serviceAccount{},
		users:        map[string]*User{},
		clients:      map[string]string{},
		refresh:      map[string]*refreshGrant{},
		access:       map[string]*accessGrant{},
		requests:     map[string]int{},
		fed:          newFederation(o.RSAKeyBits),
		projects:     map[string]*Project{},
		pollInterval: o.DevicePollInterval,
		iapKeys:      []*ecKey{newECKey(), newECKey()},
		system:       map[string][]*rsaKey{SecureTokenServiceAccount: {generateKey(o.RSAKeyBits), generateKey(o.RSAKeyBits)}},
	}
	s.mux = s.routes()
	s.projects[DefaultProjectID] = defaultProject(o.Now())
	// The clock the fake answers with includes any injected skew (faults.go).
	s.now = func() time.Time { return o.Now().Add(s.faults.clockSkew()) }
	if _, err := s.AddServiceAccount(DefaultServiceAccount); err != nil {
		return nil, err
	}
	if err := s.addDefaultTarget(); err != nil {
		return nil, err
	}
	s.AddUser(DefaultUser)
	s.AddOAuthClient(DefaultClientID, DefaultClientSecret)
	if err := s.addDefaultFederation(); err != nil {
		return nil, err
	}
	if err := s.addUniverseGrants(); err != nil { // universe.go
		return nil, err
	}
	return s, nil
}

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	for _, p := range []string{"/token", "/o/oauth2/token", "/oauth2/v4/token"} {
		m.HandleFunc(p, s.handleToken)
	}
	m.HandleFunc("/device/code", s.handleDeviceCode) // device.go
	m.HandleFunc("/device", s.handleDevicePage)      // www.google.com/device
	m.HandleFunc("/revoke", s.handleRevoke)
	m.HandleFunc("/o/oauth2/revoke", s.handleRevoke)
	m.HandleFunc("/o/oauth2/v2/auth", s.handleAuthorize) // accounts.google.com (authorize.go)
	m.HandleFunc("/o/oauth2/auth", s.handleAuthorize)
	m.HandleFunc("/tokeninfo", s.handleTokeninfoV3)
	m.HandleFunc("/oauth2/v3/tokeninfo", s.handleTokeninfoV3)
	m.HandleFunc("/oauth2/v2/tokeninfo", s.handleTokeninfoV2)
	m.HandleFunc("/oauth2/v1/tokeninfo", s.handleTokeninfoV2) // the legacy v1 has v2's shape
	m.HandleFunc("/v1/userinfo", s.handleUserinfoOIDC)        // openidconnect.googleapis.com (userinfo.go)
	m.HandleFunc("/oauth2/v3/userinfo", s.handleUserinfoOIDC)
	m.HandleFunc("/oauth2/v2/userinfo", s.handleUserinfoV2)
	m.HandleFunc("/oauth2/v1/userinfo", s.handleUserinfoV2)
	m.HandleFunc("/oauth2/v3/certs", s.handleJWKS)
	m.HandleFunc("/oauth2/v1/certs", s.handlePEMCerts)
	m.HandleFunc("/robot/v1/metadata/x509/{email}", s.handleSAX509)
	m.HandleFunc("/service_accounts/v1/metadata/x509/{email}", s.handleSAX509)
	m.HandleFunc("/service_accounts/v1/metadata/jwk/{email}", s.handleSAJWK)
	m.HandleFunc("/service_accounts/v1/metadata/raw/{email}", s.handleSARaw)
	m.HandleFunc("/service_accounts/v1/jwk/{email}", s.handleSAJWK) // the form Firebase's SDKs use
	m.HandleFunc("/robot/v1/metadata/jwk/{email}", s.handleSAJWK)
	m.HandleFunc("/.well-known/openid-configuration", s.handleDiscovery)
	m.HandleFunc("/sample/get_range", s.handleSample)
	m.HandleFunc(iapSamplePath, s.handleIAPSample)              // the sample behind the fake IAP (iap.go)
	m.HandleFunc("/iap/verify/public_key", s.handleIAPKeys)     // www.gstatic.com
	m.HandleFunc("/iap/verify/public_key-jwk", s.handleIAPKeys) // www.gstatic.com
	// iamcredentials.googleapis.com: the last segment is "{name}:{method}".
	m.HandleFunc("/v1/projects/{project}/serviceAccounts/{nameAndMethod}", s.handleIAMCredentials)
	// cloudresourcemanager.googleapis.com (crm.go)
	m.HandleFunc("/v1/projects/{project}", s.handleProjectGet)
	m.HandleFunc("/v3/projects/{project}", s.handleProjectGet)
	// The same over gRPC (iamgrpc.go).
	m.HandleFunc(iamGRPCPath+"{rpc}", s.handleIAMGRPC)
	m.HandleFunc("/v1/token", s.handleSTSToken) // sts.googleapis.com
	m.HandleFunc("/v1/oauthtoken", s.handleSTSOAuthToken)
	m.HandleFunc("/v1/introspect", s.handleSTSIntrospect)
	m.HandleFunc("/latest/", s.handleIMDS) // AWS instance metadata (aws.go)
	m.HandleFunc(idpPath+"/", s.handleIDP) // the fake OIDC identity provider
	m.HandleFunc("/", s.handleUnmodelled)
	return m
}

// maxBody caps request bodies; every real request is a small form or JSON
// object.
const maxBody = 1 << 20

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if obs := s.observer.Load(); obs != nil {
		rec := s.observeStart(w, r) // observe.go
		defer rec.finish(*obs)
		w = rec
	}
	s.mu.Lock()
	s.requests[r.URL.Path]++
	s.mu.Unlock()
	// Only method and path: queries and bodies can carry tokens.
	s.log.Debug("fakegoogle request", "method", r.Method, "path", r.URL.Path)
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := crossSiteWrite(r); err != nil {
		s.log.Warn("fakegoogle: cross-site request refused", "method", r.Method, "path", r.URL.Path)
		hostcheck.WriteRefusal(w, hostcheck.StatusCrossSite, err)
		return
	}
	s.serveWithFaults(w, r, s.mux) // faults.go; without rules, just s.mux
}

// crossSiteWrite refuses a request that would change the fake's state
// (any method but GET, HEAD and OPTIONS) when a browser says a page of
// another site sent it: no client library sends one, and a page that could
// would mint, exchange or revoke tokens in the user's emulator. The
// authorization endpoint is left to handleAuthorize: apps send users there
// from their own site, by design; its consent form is guarded there.
func crossSiteWrite(r *http.Request) error {
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions:
		return nil
	case r.URL.Path == "/o/oauth2/auth" || r.URL.Path == "/o/oauth2/v2/auth":
		return nil
	}
	return hostcheck.CrossSite(r, "")
}

// SetBaseURL sets the fake's external base URL, e.g. "http://127.0.0.1:8123"
// (a trailing slash is dropped). It becomes token_uri in the credential
// files the fake writes, the base of the openid-configuration URLs and of
// SampleServiceURL, and one of the accepted assertion audiences. Call it
// before serving. Until it is called, requests are answered as if the base
// URL were the scheme and Host of each request.
func (s *Server) SetBaseURL(base string) {
	s.mu.Lock()
	s.base = strings.TrimRight(base, "/")
	s.mu.Unlock()
}

// BaseURL returns the URL set by SetBaseURL, or "" if it was never set.
func (s *Server) BaseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base
}

// baseFor returns the base URL to use when answering r.
func (s *Server) baseFor(r *http.Request) string {
	if b := s.BaseURL(); b != "" {
		return b
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// RequestCount returns how many requests the fake has seen for path (any
// method, including failed ones). Tests use it to check that clients cache
// and coalesce token requests.
func (s *Server) RequestCount(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// Running is a Server listening on a local address, returned by Start.
type Running struct {
	*Server
	// URL is the base URL the server listens on, e.g. "http://127.0.0.1:8123".
	URL string

	srv  *http.Server
	done chan struct{}
}

// Start creates a Server, listens on addr (e.g. "127.0.0.1:0"), sets the base
// URL to match and serves in a goroutine until Close.
func Start(addr string, opts *Options) (*Running, error) {
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fakegoogle: listen on %s: %w", addr, err)
	}
	url := "http://" + ln.Addr().String()
	s.SetBaseURL(url)
	rs := &Running{
		Server: s,
		URL:    url,
		srv:    &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second},
		done:   make(chan struct{}),
	}
	go func() {
		defer close(rs.done)
		if err := rs.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("fakegoogle: serve", "addr", url, "err", err)
		}
	}()
	return rs, nil
}

// Close stops the server, dropping open connections, and waits for the
// serving goroutine to exit.
func (rs *Running) Close() error {
	err := rs.srv.Close()
	<-rs.done
	return err
}

// handleUnmodelled answers every path the fake does not know with Google's
// 404 page. It fails loudly in the log (a warning, which the cross-check
// suite treats as a failure) so a client calling an endpoint nobody
// modelled is noticed, rather than getting a plausible guess.
func (s *Server) handleUnmodelled(w http.ResponseWriter, r *http.Request) {
	s.log.Warn("fakegoogle: unmodelled request", "method", r.Method, "path", r.URL.Path)
	WriteNotFound(w, r)
}

// Header values copied from Google's responses.
const (
	contentTypeOAuth  = "application/json; charset=utf-8" // oauth2.googleapis.com
	contentTypeGoogle = "application/json; charset=UTF-8" // www.googleapis.com
	noStore           = "no-cache, no-store, max-age=0, must-revalidate"
)

// writeJSON writes v pretty-printed with a two-space indent, as Google's
// OAuth endpoints do.
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, "fakegoogle: encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// oauthError is the body of OAuth-style errors.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeOAuthError answers with an OAuth-style error the way the token
// endpoint does (no caching).
func (s *Server) writeOAuthError(w http.ResponseWriter, r *http.Request, status int, code, desc string) {
	s.log.Debug("fakegoogle: error response", "path", r.URL.Path, "status", status, "error", code, "description", desc)
	w.Header().Set("Cache-Control", noStore)
	writeJSON(w, status, contentTypeOAuth, oauthError{Error: code, Description: desc})
}

// allowMethods answers 405 with an OAuth-style body unless r uses one of
// methods.
func (s *Server) allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	s.writeOAuthError(w, r, http.StatusMethodNotAllowed, "invalid_request",
		fmt.Sprintf("Method %s not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(methods, " or ")))
	return false
}

// parseForm parses query and form body, reporting failure (e.g. a body over
// maxBody) as an OAuth invalid_request.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		s.writeOAuthError(w, r, http.StatusBadRequest, "invalid_request", "Cannot parse request: "+err.Error())
		return false
	}
	return true
}
