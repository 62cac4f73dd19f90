package crosscheck_test

// Google's own clients against gcptoken's metadata server.
//
// Each test starts fakegoogle, puts metadataserver (backed by the fake's
// service-account key) on 127.0.0.1:0, and runs a peer whose only pointer to
// it is the environment (GCE_METADATA_HOST / GCE_METADATA_IP /
// GCE_METADATA_ROOT), as on a GCE VM. Every peer gets an access token, an ID
// token for the fake's sample service (which must then answer 200) and the
// project id. The listener records every HTTP exchange, so the tests can
// assert what each library is documented to send, and a failure shows exactly
// what the peer asked and what it got.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/credentials/idtoken"
	"cloud.google.com/go/compute/metadata"

	"github.com/gcptoken/gcptoken"
	gcpcreds "github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/metadataserver"
)

// What the metadata server says about its "VM". The project differs from the
// service account's (fakegoogle.DefaultProjectID) and GOOGLE_CLOUD_PROJECT is
// unset, so a project id a peer reports can only have come from the server.
const (
	mdsProjectID        = "mds-crosscheck-project"
	mdsNumericProjectID = "731408530712"
	mdsZone             = "us-central1-a"
	mdsInstanceID       = "4520031799277581759"
	mdsInstanceName     = "crosscheck-vm"
	defaultUniverse     = "googleapis.com"
	metadataPrefix      = "/computeMetadata/v1/"
	mdsMachineType      = "n2-standard-2"
	mdsInternalIP       = "10.20.0.5"
	mdsExternalIP       = "203.0.113.20"
	mdsLicense          = "5543610867827062957"
)

// mdsTags are the VM's network tags.
var mdsTags = []string{"crosscheck", "web"}

// mdsFixture is fakegoogle plus a metadata server serving its default
// service account.
type mdsFixture struct {
	*fixture
	host   string // "127.0.0.1:port", the value of the GCE_METADATA_* variables
	wire   *wireLog
	source *credsSource
}

func newMDSFixture(t *testing.T) *mdsFixture {
	t.Helper()
	return newMDSFixtureWith(t, false)
}

// newComputeMDSFixture is newMDSFixture with ID tokens shaped as Compute
// Engine mints them (fakegoogle.MintComputeIDToken), as `gcptoken emulator
// --metadata-listen` serves them, rather than the key's.
func newComputeMDSFixture(t *testing.T) *mdsFixture {
	t.Helper()
	return newMDSFixtureWith(t, true)
}

func newMDSFixtureWith(t *testing.T, computeIDTokens bool) *mdsFixture {
	t.Helper()
	f := newFixture(t)
	creds, err := gcpcreds.FromJSON(f.keyJSON, nil)
	if err != nil {
		t.Fatalf("credentials.FromJSON(service-account key): %v", err)
	}
	m := &mdsFixture{fixture: f, wire: &wireLog{}, source: &credsSource{creds: creds}}
	if computeIDTokens {
		m.source.compute, m.source.account = f.fake.Server, f.sa.Email
	}
	srv, err := metadataserver.New(&metadataserver.Options{
		Source:              m.source,
		ServiceAccountEmail: f.sa.Email,
		Scopes:              []string{scopeCloudPlatform},
		ProjectID:           mdsProjectID,
		NumericProjectID:    mdsNumericProjectID,
		InstanceID:          mdsInstanceID,
		InstanceName:        mdsInstanceName,
		Zone:                mdsZone,
		Hostname:            mdsInstanceName + ".c." + mdsProjectID + ".internal",
		MachineType:         mdsMachineType,
		Tags:                mdsTags,
		InternalIP:          mdsInternalIP,
		ExternalIP:          mdsExternalIP,
		Licenses:            []string{mdsLicense},
		Logger:              mdsLogger(t),
	})
	if err != nil {
		t.Fatalf("metadataserver.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	m.host = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, &recordingListener{Listener: ln, log: m.wire}) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("calls the metadata server made to its token source:\n%s", m.source)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("metadataserver.Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("metadataserver.Serve did not return 10 s after its context was cancelled")
		}
	})
	t.Logf("metadata server on %s for %s", m.host, f.sa.Email)
	return m
}

// credsSource is the metadataserver.Source of these tests: gcptoken's own
// credentials for the fake's service-account key. It records what the
// server asked of it, for the log of a failed test.
type credsSource struct {
	creds *gcpcreds.Credentials
	// compute, when set, mints the ID tokens of account as Compute Engine
	// does instead.
	compute *fakegoogle.Server
	account string
	mu      sync.Mutex
	calls   []string
}

func (s *credsSource) AccessTokenProvider(scopes []string) (gcptoken.TokenProvider, error) {
	s.record(fmt.Sprintf("AccessTokenProvider(%q)", scopes))
	return s.creds.AccessTokenSource(scopes)
}

func (s *credsSource) IDTokenProvider(req metadataserver.IDTokenRequest) (gcptoken.TokenProvider, error) {
	s.record(fmt.Sprintf("IDTokenProvider(audience %q, format %q, licenses %t)", req.Audience, req.Format, req.Licenses))
	if s.compute == nil {
		return s.creds.IDTokenSource(req.Audience, nil)
	}
	in := req.Instance
	mint := fakegoogle.ComputeIDTokenRequest{ServiceAccount: s.account, Audience: req.Audience, Format: req.Format, Licenses: req.Licenses,
		Instance: fakegoogle.ComputeInstance{ProjectID: in.ProjectID, ProjectNumber: in.NumericProjectID, Zone: in.Zone,
			InstanceID: in.InstanceID, InstanceName: in.InstanceName, CreationTime: in.CreationTime, LicenseIDs: in.Licenses}}
	return gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) {
		tok, exp, err := s.compute.MintComputeIDToken(mint)
		if err != nil {
			return nil, err
		}
		return &gcptoken.Token{Value: tok, Type: "Bearer", Kind: gcptoken.IDToken, Expiry: exp}, nil
	}), nil
}

func (s *credsSource) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

func (s *credsSource) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.calls, "\n")
}

// mdsLogger sends the metadata server's logs to the test log and, like
// fakeLogger, fails the test on a warning: the server warns about requests
// it does not model, which is what this suite exists to find.
func mdsLogger(t *testing.T) *slog.Logger {
	h := slog.NewTextHandler(prefixLogWriter{t, "metadataserver: "}, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(mdsFailOnWarn{h, t})
}

type prefixLogWriter struct {
	t      *testing.T
	prefix string
}

func (w prefixLogWriter) Write(p []byte) (int, error) {
	w.t.Log(w.prefix + strings.TrimSpace(string(p)))
	return len(p), nil
}

type mdsFailOnWarn struct {
	slog.Handler
	t *testing.T
}

func (h mdsFailOnWarn) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.t.Errorf("metadataserver warned (a peer used something the server does not model): %s", r.Message)
	}
	return h.Handler.Handle(ctx, r)
}

func (h mdsFailOnWarn) WithAttrs(as []slog.Attr) slog.Handler {
	return mdsFailOnWarn{h.Handler.WithAttrs(as), h.t}
}

func (h mdsFailOnWarn) WithGroup(name string) slog.Handler {
	return mdsFailOnWarn{h.Handler.WithGroup(name), h.t}
}

// env returns a peer's complete environment on the "VM": peerEnv with every
// metadata-server variable naming the metadata server, no NO_GCE_CHECK (the
// peers' own GCE detection must succeed against it), no GOOGLE_CLOUD_PROJECT
// (the project id must come from it) and an empty HOME of its own, so no ADC
// file is found and the libraries fall through to the metadata server.
// Later entries of extra override earlier ones (os/exec keeps the last value
// of a duplicated key).
func (m *mdsFixture) env(t *testing.T, extra ...string) []string {
	home := t.TempDir()
	var env []string
	for _, kv := range peerEnv(home) {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GCE_METADATA_HOST", "GCE_METADATA_IP", "GCE_METADATA_ROOT", "NO_GCE_CHECK", "GOOGLE_CLOUD_PROJECT":
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"GCE_METADATA_HOST="+m.host, // Go, Python data calls, Node
		"GCE_METADATA_IP="+m.host,   // Python's detection ping; Node prefers it to HOST
		"GCE_METADATA_ROOT="+m.host, // gcloud
	)
	return append(env, extra...)
}

// ---------------------------------------------------------------------------
// The wire log: every request and answer that crossed the listener.

type wireLog struct {
	mu      sync.Mutex
	entries []*wireEntry
	conns   int
}

// wireEntry is one HTTP exchange as the bytes on the connection had it.
type wireEntry struct {
	conn       int
	method     string
	uri        string // as sent: path and raw query
	header     http.Header
	status     int // 0: no answer (yet)
	respHeader http.Header
	respBody   string // only for answers >= 300, capped
}

func (e *wireEntry) path() string {
	p, _, _ := strings.Cut(e.uri, "?")
	return p
}

func (e *wireEntry) query() url.Values {
	_, q, _ := strings.Cut(e.uri, "?")
	v, _ := url.ParseQuery(q)
	return v
}

func (e *wireEntry) String() string {
	s := fmt.Sprintf("conn %d: %s %s [Metadata-Flavor: %q, User-Agent: %q] -> ",
		e.conn, e.method, e.uri, e.header.Get("Metadata-Flavor"), e.header.Get("User-Agent"))
	if e.status == 0 {
		return s + "no answer"
	}
	s += fmt.Sprintf("%d [Metadata-Flavor: %q, Content-Type: %q]", e.status,
		e.respHeader.Get("Metadata-Flavor"), e.respHeader.Get("Content-Type"))
	if e.respBody != "" {
		s += fmt.Sprintf(" %q", e.respBody)
	}
	return s
}

// mark returns a position in the log, for since.
func (l *wireLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// since returns copies of the exchanges recorded after mark.
func (l *wireLog) since(mark int) []wireEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []wireEntry
	for _, e := range l.entries[mark:] {
		out = append(out, *e)
	}
	return out
}

// recordingListener hands the metadata server connections that parse the
// HTTP/1.1 stream going each way. It sees what the peer really sent, headers
// and query bytes included, without any hook in metadataserver.
type recordingListener struct {
	net.Listener
	log *wireLog
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.log.mu.Lock()
	l.log.conns++
	id := l.log.conns
	l.log.mu.Unlock()
	return &recordingConn{Conn: c, log: l.log, id: id}, nil
}

type recordingConn struct {
	net.Conn
	log     *wireLog
	id      int
	in, out []byte       // bytes not yet parsed into a whole request / answer
	pending []*wireEntry // requests waiting for their answer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.log.mu.Lock()
		c.in = append(c.in, p[:n]...)
		for c.parseRequest() {
		}
		c.log.mu.Unlock()
	}
	return n, err
}

// Write records the answer before sending it, so an exchange is complete in
// the log by the time the peer has its answer.
func (c *recordingConn) Write(p []byte) (int, error) {
	c.log.mu.Lock()
	c.out = append(c.out, p...)
	for c.parseResponse() {
	}
	c.log.mu.Unlock()
	return c.Conn.Write(p)
}

// parseRequest moves one whole request from c.in to the log; false means
// more bytes are needed.
func (c *recordingConn) parseRequest() bool {
	r := bytes.NewReader(c.in)
	br := bufio.NewReader(r)
	req, err := http.ReadRequest(br)
	if err != nil {
		return false
	}
	if _, err := io.Copy(io.Discard, req.Body); err != nil {
		return false
	}
	c.in = c.in[len(c.in)-r.Len()-br.Buffered():]
	e := &wireEntry{conn: c.id, method: req.Method, uri: req.RequestURI, header: req.Header}
	c.log.entries = append(c.log.entries, e)
	c.pending = append(c.pending, e)
	return true
}

// parseResponse pairs one whole answer in c.out with the oldest request.
func (c *recordingConn) parseResponse() bool {
	if len(c.pending) == 0 {
		return false
	}
	e := c.pending[0]
	r := bytes.NewReader(c.out)
	br := bufio.NewReader(r)
	resp, err := http.ReadResponse(br, &http.Request{Method: e.method})
	if err != nil {
		return false
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return false
	}
	c.out = c.out[len(c.out)-r.Len()-br.Buffered():]
	e.status, e.respHeader = resp.StatusCode, resp.Header
	if resp.StatusCode >= 300 {
		e.respBody = string(body[:min(len(body), 300)])
	}
	c.pending = c.pending[1:]
	return true
}

// ---------------------------------------------------------------------------
// Checks on the wire log.

// exchanges runs a peer and returns its output and the exchanges it caused,
// which go to the test log either way.
func (m *mdsFixture) exchanges(t *testing.T, runPeer func() []byte) ([]byte, []wireEntry) {
	t.Helper()
	mark := m.wire.mark()
	// Deferred, so it is logged on a t.Fatal inside runPeer too: the log
	// is what explains a failure.
	defer func() { t.Logf("metadata server exchanges:\n%s", dumpWire(m.wire.since(mark))) }()
	out := runPeer()
	return out, m.wire.since(mark)
}

func dumpWire(entries []wireEntry) string {
	if len(entries) == 0 {
		return "  (none)"
	}
	var b strings.Builder
	for i, e := range entries {
		fmt.Fprintf(&b, "  #%d %s\n", i, &e)
	}
	return strings.TrimRight(b.String(), "\n")
}

// checkFlavor checks the header rule every metadata client relies on: each
// request carried Metadata-Flavor: Google, and each answer (errors
// included) came back with it.
func checkFlavor(t *testing.T, entries []wireEntry) {
	t.Helper()
	for i, e := range entries {
		if got := e.header.Get("Metadata-Flavor"); got != "Google" {
			t.Errorf("#%d %s %s: request Metadata-Flavor = %q; want \"Google\" (every peer here sends it)", i, e.method, e.uri, got)
		}
		if e.status == 0 {
			t.Errorf("#%d %s %s: no answer recorded", i, e.method, e.uri)
		} else if got := e.respHeader.Get("Metadata-Flavor"); got != "Google" {
			t.Errorf("#%d %s %s: answer %d has Metadata-Flavor = %q; want \"Google\"", i, e.method, e.uri, e.status, got)
		}
	}
}

// expectGET finds the first GET of path (exact, query aside) whose query
// holds every value in want, checks it was answered 200, and returns its
// index, or -1 after failing the test with what was seen.
func expectGET(t *testing.T, entries []wireEntry, path string, want url.Values) int {
	t.Helper()
	return expectGETStatus(t, entries, path, want, http.StatusOK)
}

// expectGETStatus is expectGET accepting any of the given statuses.
func expectGETStatus(t *testing.T, entries []wireEntry, path string, want url.Values, statuses ...int) int {
	t.Helper()
	for i, e := range entries {
		if e.method != http.MethodGet || e.path() != path {
			continue
		}
		q := e.query()
		if !containsQuery(q, want) {
			continue
		}
		if !slices.Contains(statuses, e.status) {
			t.Errorf("GET %s: status = %d; want one of %v (body %q)", e.uri, e.status, statuses, e.respBody)
		}
		return i
	}
	t.Errorf("the metadata server saw no GET %s with query %v; it saw:\n%s", path, want, dumpWire(entries))
	return -1
}

func containsQuery(got, want url.Values) bool {
	for k, vs := range want {
		if !slices.Equal(got[k], vs) {
			return false
		}
	}
	return true
}

// checkContentType checks the answer to entries[i] has the media type a
// peer's parser depends on (parameters such as charset aside).
func checkContentType(t *testing.T, entries []wireEntry, i int, want string) {
	t.Helper()
	if i < 0 {
		return
	}
	ct := entries[i].respHeader.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); strings.TrimSpace(mt) != want {
		t.Errorf("GET %s: answer Content-Type = %q; want %s", entries[i].uri, ct, want)
	}
}

func md(p string) string { return metadataPrefix + p }

// ---------------------------------------------------------------------------
// Go: cloud.google.com/go/compute/metadata and cloud.google.com/go/auth, in a
// subprocess: compute/metadata reads GCE_METADATA_HOST once and memoises
// OnGCE, so the variable must be in the environment before the first use.
// The test binary re-runs itself with goMDSPeerEnv naming the flow; TestMain
// runs that flow instead of the tests.

const goMDSPeerEnv = "CROSSCHECK_GO_METADATA_PEER"

func TestMain(m *testing.M) {
	if flow := os.Getenv(goMDSPeerEnv); flow != "" {
		os.Exit(goMetadataPeer(flow))
	}
	code := m.Run()
	removeGapicPeer()
	os.Exit(code)
}

// goMetadataPeer runs one flow, reading {"audience"} from stdin and printing
// one JSON object, like the Python and Node scripts.
func goMetadataPeer(flow string) int {
	var in struct{ Audience string }
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintf(os.Stderr, "read input: %v\n", err)
		return 2
	}
	run, ok := goMDSFlows[flow]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown flow %q\n", flow)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout/2)
	defer cancel()
	out, err := run(ctx, in.Audience)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", flow, err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "write output: %v\n", err)
		return 1
	}
	return 0
}

type goMDSOutput struct {
	OnGCE            bool      `json:"on_gce,omitempty"`
	ProjectID        string    `json:"project_id,omitempty"`
	NumericProjectID string    `json:"numeric_project_id,omitempty"`
	Email            string    `json:"email,omitempty"`
	Scopes           []string  `json:"scopes,omitempty"`
	Zone             string    `json:"zone,omitempty"`
	Token            string    `json:"token,omitempty"`
	TokenType        string    `json:"token_type,omitempty"`
	Expiry           time.Time `json:"expiry"`
	UniverseDomain   string    `json:"universe_domain,omitempty"`
	IDToken          string    `json:"id_token,omitempty"`
}

var goMDSFlows = map[string]func(ctx context.Context, audience string) (*goMDSOutput, error){
	// The compute/metadata package's own helpers, and the raw token document.
	"compute_metadata": func(ctx context.Context, _ string) (*goMDSOutput, error) {
		out := &goMDSOutput{OnGCE: metadata.OnGCE()}
		var err error
		if out.ProjectID, err = metadata.ProjectIDWithContext(ctx); err != nil {
			return nil, fmt.Errorf("ProjectIDWithContext: %w", err)
		}
		if out.NumericProjectID, err = metadata.NumericProjectIDWithContext(ctx); err != nil {
			return nil, fmt.Errorf("NumericProjectIDWithContext: %w", err)
		}
		if out.Email, err = metadata.EmailWithContext(ctx, ""); err != nil {
			return nil, fmt.Errorf("EmailWithContext: %w", err)
		}
		if out.Scopes, err = metadata.ScopesWithContext(ctx, ""); err != nil {
			return nil, fmt.Errorf("ScopesWithContext: %w", err)
		}
		if out.Zone, err = metadata.ZoneWithContext(ctx); err != nil {
			return nil, fmt.Errorf("ZoneWithContext: %w", err)
		}
		doc, err := metadata.GetWithContext(ctx, "instance/service-accounts/default/token")
		if err != nil {
			return nil, fmt.Errorf("GetWithContext(token): %w", err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
			TokenType   string `json:"token_type"`
		}
		if err := json.Unmarshal([]byte(doc), &tok); err != nil {
			return nil, fmt.Errorf("token document is not JSON: %w", err)
		}
		out.Token, out.TokenType = tok.AccessToken, tok.TokenType
		out.Expiry = time.Now().Add(time.Duration(tok.ExpiresIn) * time.Second)
		return out, nil
	},
	// Application Default Credentials: no GOOGLE_APPLICATION_CREDENTIALS,
	// an empty HOME, so DetectDefault falls to the metadata server.
	"detect_default": func(ctx context.Context, _ string) (*goMDSOutput, error) {
		creds, err := credentials.DetectDefault(&credentials.DetectOptions{Scopes: []string{scopeCloudPlatform}})
		if err != nil {
			return nil, fmt.Errorf("DetectDefault: %w", err)
		}
		tok, err := creds.Token(ctx)
		if err != nil {
			return nil, fmt.Errorf("Token: %w", err)
		}
		out := &goMDSOutput{Token: tok.Value, TokenType: tok.Type, Expiry: tok.Expiry}
		if out.ProjectID, err = creds.ProjectID(ctx); err != nil {
			return nil, fmt.Errorf("ProjectID: %w", err)
		}
		if out.UniverseDomain, err = creds.UniverseDomain(ctx); err != nil {
			return nil, fmt.Errorf("UniverseDomain: %w", err)
		}
		return out, nil
	},
	// idtoken.NewCredentials with nothing but an audience: on "GCE" it asks
	// the metadata server's identity endpoint.
	"idtoken": func(ctx context.Context, audience string) (*goMDSOutput, error) {
		creds, err := idtoken.NewCredentials(&idtoken.Options{Audience: audience})
		if err != nil {
			return nil, fmt.Errorf("idtoken.NewCredentials: %w", err)
		}
		tok, err := creds.Token(ctx)
		if err != nil {
			return nil, fmt.Errorf("Token: %w", err)
		}
		return &goMDSOutput{IDToken: tok.Value, Expiry: tok.Expiry}, nil
	},
}

// runGoMDSPeer runs one Go flow in a child of the test binary.
func runGoMDSPeer(t *testing.T, m *mdsFixture, flow string) goMDSOutput {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("find the test binary: %v", err)
	}
	out, _ := m.exchanges(t, func() []byte {
		return run(t, ".", m.env(t, goMDSPeerEnv+"="+flow), map[string]string{"audience": m.sampleURL}, exe)
	})
	return decode[goMDSOutput](t, out)
}

func TestMetadataGo(t *testing.T) {
	m := newMDSFixture(t)

	t.Run("compute_metadata", func(t *testing.T) {
		mark := m.wire.mark()
		out := runGoMDSPeer(t, m, "compute_metadata")
		entries := m.wire.since(mark)
		if !out.OnGCE {
			t.Error("metadata.OnGCE() = false; want true (GCE_METADATA_HOST is set)")
		}
		if out.ProjectID != mdsProjectID || out.NumericProjectID != mdsNumericProjectID || out.Email != m.sa.Email || out.Zone != mdsZone {
			t.Errorf("project id, numeric project id, email, zone = %q, %q, %q, %q; want %q, %q, %q, %q",
				out.ProjectID, out.NumericProjectID, out.Email, out.Zone, mdsProjectID, mdsNumericProjectID, m.sa.Email, mdsZone)
		}
		if !slices.Equal(out.Scopes, []string{scopeCloudPlatform}) {
			t.Errorf("ScopesWithContext = %q; want [%s]", out.Scopes, scopeCloudPlatform)
		}
		if out.TokenType != "Bearer" {
			t.Errorf("token_type = %q; want Bearer", out.TokenType)
		}
		checkAccessTokenInfo(t, m.fixture, "access token", out.Token, m.sa.UniqueID, scopeCloudPlatform)
		checkExpiry(t, "access token", out.Expiry)

		checkFlavor(t, entries)
		for _, p := range []string{"project/project-id", "project/numeric-project-id", "instance/service-accounts/default/email",
			"instance/service-accounts/default/scopes", "instance/zone"} {
			expectGET(t, entries, md(p), nil)
		}
		expectGET(t, entries, md("instance/service-accounts/default/token"), nil)
		for _, e := range entries {
			if ua := e.header.Get("User-Agent"); ua != "gcloud-golang/0.1" {
				t.Errorf("%s: User-Agent = %q; want gcloud-golang/0.1 (compute/metadata's)", e.uri, ua)
			}
		}
	})

	t.Run("detect_default", func(t *testing.T) {
		mark := m.wire.mark()
		out := runGoMDSPeer(t, m, "detect_default")
		entries := m.wire.since(mark)
		checkAccessTokenInfo(t, m.fixture, "access token", out.Token, m.sa.UniqueID, scopeCloudPlatform)
		checkExpiry(t, "access token", out.Expiry)
		if out.ProjectID != mdsProjectID || out.UniverseDomain != defaultUniverse {
			t.Errorf("ProjectID, UniverseDomain = %q, %q; want %q, %q", out.ProjectID, out.UniverseDomain, mdsProjectID, defaultUniverse)
		}
		checkFlavor(t, entries)
		expectGET(t, entries, md("instance/service-accounts/default/token"), url.Values{"scopes": {scopeCloudPlatform}})
		expectGET(t, entries, md("project/project-id"), nil)
	})

	t.Run("idtoken", func(t *testing.T) {
		mark := m.wire.mark()
		out := runGoMDSPeer(t, m, "idtoken")
		entries := m.wire.since(mark)
		checkSAIDToken(t, m.fixture, "ID token", out.IDToken)
		checkFlavor(t, entries)
		expectGET(t, entries, md("instance/service-accounts/default/identity"),
			url.Values{"audience": {m.sampleURL}, "format": {"full"}})
	})
}

// ---------------------------------------------------------------------------
// Python google-auth 2.x (bundled with the Google Cloud CLI).

func TestMetadataPython(t *testing.T) {
	p := requirePeer(t, pythonPeer())
	m := newMDSFixture(t)
	runPy := func(t *testing.T, script string, input any) ([]byte, []wireEntry) {
		t.Helper()
		env := m.env(t, append(slices.Clone(p.env), pythonEnv...)...)
		return m.exchanges(t, func() []byte { return run(t, "python", env, input, p.path, script) })
	}

	t.Run("compute_engine_credentials", func(t *testing.T) {
		raw, entries := runPy(t, "mds_access_token.py", map[string]any{})
		out := decode[struct {
			Token               string
			Expiry              string
			ServiceAccountEmail string `json:"service_account_email"`
			Scopes              []string
			UniverseDomain      string `json:"universe_domain"`
		}](t, raw)
		checkAccessTokenInfo(t, m.fixture, "access token", out.Token, m.sa.UniqueID, scopeCloudPlatform)
		checkExpiry(t, "access token", parseRFC3339(t, "access token", out.Expiry))
		if out.ServiceAccountEmail != m.sa.Email || !slices.Equal(out.Scopes, []string{scopeCloudPlatform}) || out.UniverseDomain != defaultUniverse {
			t.Errorf("email, scopes, universe = %q, %q, %q; want %q, [%s], %q",
				out.ServiceAccountEmail, out.Scopes, out.UniverseDomain, m.sa.Email, scopeCloudPlatform, defaultUniverse)
		}
		checkFlavor(t, entries)
		// Documented order: the recursive service-account document (JSON,
		// or Python cannot read the email from it), then the token of the
		// account by email.
		info := expectGET(t, entries, md("instance/service-accounts/default/"), url.Values{"recursive": {"true"}})
		checkContentType(t, entries, info, "application/json")
		tok := expectGET(t, entries, md("instance/service-accounts/"+m.sa.Email+"/token"), nil)
		checkContentType(t, entries, tok, "application/json")
		if info >= 0 && tok >= 0 && tok < info {
			t.Errorf("token requested (#%d) before the service-account document (#%d)", tok, info)
		}
	})

	t.Run("default_project_id", func(t *testing.T) {
		raw, entries := runPy(t, "mds_adc.py", map[string]any{})
		out := decode[struct {
			CredentialsType string `json:"credentials_type"`
			ProjectID       string `json:"project_id"`
		}](t, raw)
		if out.CredentialsType != "google.auth.compute_engine.credentials.Credentials" || out.ProjectID != mdsProjectID {
			t.Errorf("google.auth.default() = %s, %q; want compute_engine Credentials and %q", out.CredentialsType, out.ProjectID, mdsProjectID)
		}
		checkFlavor(t, entries)
		expectGET(t, entries, "/", nil) // the ping, to GCE_METADATA_IP
		expectGET(t, entries, md("project/project-id"), nil)
	})

	t.Run("fetch_id_token", func(t *testing.T) {
		raw, entries := runPy(t, "mds_id_token.py", map[string]any{"audience": m.sampleURL})
		out := decode[struct {
			IDToken string `json:"id_token"`
		}](t, raw)
		checkSAIDToken(t, m.fixture, "fetch_id_token token", out.IDToken)
		checkFlavor(t, entries)
		expectGET(t, entries, "/", nil)
		i := expectGET(t, entries, md("instance/service-accounts/default/identity"),
			url.Values{"audience": {m.sampleURL}, "format": {"full"}})
		if i >= 0 && entries[i].respHeader.Get("Content-Type") == "application/json" {
			t.Errorf("identity answered with Content-Type application/json; Python would try to JSON-decode the JWT")
		}
	})
}

// ---------------------------------------------------------------------------
// Node google-auth-library.

func TestMetadataNode(t *testing.T) {
	p := requirePeer(t, nodePeer())
	m := newMDSFixture(t)
	env := m.env(t,
		// getProjectId() first runs `gcloud config config-helper`; gcloud
		// must find no project of its own, so that the answer is Node's
		// own project/project-id request: its metadata root is a closed
		// port and its config directory is empty.
		"GCE_METADATA_ROOT=127.0.0.1:1",
		"CLOUDSDK_CONFIG="+filepath.Join(t.TempDir(), "gcloud"),
		"CLOUDSDK_CORE_DISABLE_PROMPTS=1",
		"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1",
		"CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
	)
	raw, entries := m.exchanges(t, func() []byte {
		return run(t, "node", env, map[string]any{"mds_base": "http://" + m.host, "audience": m.sampleURL}, p.path, "mds_compute.js")
	})
	out := decode[struct {
		Client     string
		Token      string
		ExpiryDate int64  `json:"expiry_date"`
		ProjectID  string `json:"project_id"`
		IDToken    string `json:"id_token"`
	}](t, raw)
	if out.Client != "Compute" {
		t.Errorf("getClient() = %s; want Compute", out.Client)
	}
	checkAccessTokenInfo(t, m.fixture, "access token", out.Token, m.sa.UniqueID, scopeCloudPlatform)
	checkExpiry(t, "access token", time.UnixMilli(out.ExpiryDate))
	if out.ProjectID != mdsProjectID {
		t.Errorf("getProjectId() = %q; want %q", out.ProjectID, mdsProjectID)
	}
	checkSAIDToken(t, m.fixture, "fetchIdToken token", out.IDToken)

	checkFlavor(t, entries)
	// isAvailable(): no trailing slash. A listing (200) or a redirect to
	// instance/ (which gaxios follows) both count as "available".
	expectGETStatus(t, entries, md("instance"), nil, http.StatusOK, http.StatusMovedPermanently)
	expectGET(t, entries, md("instance/service-accounts/default/token"), nil)
	expectGET(t, entries, md("project/project-id"), nil)
	// Node builds this query by hand, the audience not URL-encoded.
	i := expectGET(t, entries, md("instance/service-accounts/default/identity"),
		url.Values{"audience": {m.sampleURL}, "format": {"full"}})
	if i >= 0 && !strings.Contains(entries[i].uri, "audience="+m.sampleURL) {
		t.Logf("note: Node sent the audience encoded: %s", entries[i].uri)
	}
}

// ---------------------------------------------------------------------------
// gcloud on "GCE": no account configured, so gcloud asks the metadata
// server (GCE_METADATA_ROOT) whether it is on GCE (numeric-project-id must be
// digits), takes the default account from it and gets tokens through it.

func TestMetadataGcloud(t *testing.T) {
	p := requirePeer(t, gcloudPeer())
	m := newMDSFixture(t)
	env := m.env(t,
		"CLOUDSDK_CONFIG="+filepath.Join(t.TempDir(), "gcloud"), // fresh: no account, no cached GCE check
		"CLOUDSDK_CORE_DISABLE_PROMPTS=1",
		// On "GCE" gcloud gets its tokens from the metadata server; the
		// property makes sure no grant could go to Google anyway.
		"CLOUDSDK_AUTH_TOKEN_HOST="+m.fake.URL+"/token",
		"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1",
		"CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
	)
	gcloud := func(args ...string) (string, []wireEntry) {
		t.Helper()
		raw, entries := m.exchanges(t, func() []byte { return run(t, m.dir, env, nil, p.path, append(args, "--verbosity=error")...) })
		return strings.TrimSpace(string(raw)), entries
	}

	tok, entries := gcloud("auth", "print-access-token")
	checkAccessTokenInfo(t, m.fixture, "print-access-token", tok, m.sa.UniqueID, scopeCloudPlatform)
	checkFlavor(t, entries)
	expectGET(t, entries, md("project/numeric-project-id"), nil) // gcloud's on-GCE check

	idTok, entries := gcloud("auth", "print-identity-token", "--audiences="+m.sampleURL)
	checkSAIDToken(t, m.fixture, "print-identity-token", idTok)
	checkFlavor(t, entries)
	expectGET(t, entries, md("instance/service-accounts/default/identity"), url.Values{"audience": {m.sampleURL}})

	project, _ := gcloud("config", "get-value", "project")
	if project != mdsProjectID {
		t.Errorf("gcloud config get-value project = %q; want %q (from the metadata server)", project, mdsProjectID)
	}
}
