package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/hostcheck"
)

// DefaultPath is where the console is served: a path that no Google
// endpoint uses, so that it can share the fake's address (New checks that
// the fake models nothing under it).
const DefaultPath = "/_gcptoken/console/"

// DefaultCapacity is how many exchanges the timeline keeps by default.
const DefaultCapacity = 500

// Options configures a Console.
type Options struct {
	// Fake is the fake Google the console shows and edits. Required.
	Fake *fakegoogle.Server
	// Path is where the console is served. Optional; default DefaultPath.
	// It must start and end with "/" and name nothing the fake models.
	Path string
	// SaveState persists the fake's identities and IAM after an edit
	// through the console (the emulator writes its state.json). Optional;
	// without it edits last as long as the fake.
	SaveState func() error
	// StateFile names where SaveState writes, for the pages. Optional.
	StateFile string
	// About are facts about the emulator shown on the pages, e.g. its URL
	// and state directory. Optional.
	About []Fact
	// Capacity is how many exchanges the timeline keeps; older ones are
	// dropped. Optional; default DefaultCapacity.
	Capacity int
	// Logger receives a line for each edit. It never gets a token: revoked
	// tokens are logged by fingerprint, decoded ones not at all. Optional;
	// default discards.
	Logger *slog.Logger
}

// Fact is one named fact about the emulator, shown on the pages.
type Fact struct{ Name, Value string }

func (o *Options) validate() error {
	switch {
	case o.Fake == nil:
		return errors.New("console: Options.Fake is required")
	case !strings.HasPrefix(o.Path, "/") || !strings.HasSuffix(o.Path, "/") || o.Path == "/" || strings.Contains(o.Path, "//"):
		return fmt.Errorf("console: Options.Path %q: want an absolute path ending in /, e.g. %s", o.Path, DefaultPath)
	case o.Fake.Models(o.Path) || o.Fake.Models(strings.TrimSuffix(o.Path, "/")) || o.Fake.Models(o.Path+"x"):
		// The path itself, and what lies under it (a pattern such as
		// /v1/projects/{p}/serviceAccounts/{name} answers only below it).
		return fmt.Errorf("console: Options.Path %q would shadow an endpoint of the fake Google", o.Path)
	case o.Capacity < 0:
		return fmt.Errorf("console: Options.Capacity %d is negative", o.Capacity)
	}
	return nil
}

// Console is the emulator's web console: an http.Handler showing every
// request the fake answers (masked), its identities, IAM grants, issued
// tokens, faults and clock, and editing them. Mount it beside the fake
// with Handler. It answers only loopback clients.
type Console struct {
	fake      *fakegoogle.Server
	path      string
	save      func() error
	stateFile string
	about     []Fact
	log       *slog.Logger
	timeline  *timeline
	sessions  *sessions
	pages     map[string]*template.Template
	mux       *http.ServeMux

	// Exchanges wait in queue for the one worker that masks and keeps
	// them, so that the fake answers without waiting for the console.
	queue     chan *fakegoogle.Exchange
	dropped   atomic.Int64  // exchanges not kept because the queue was full
	stop      chan struct{} // closed by Close
	stopped   chan struct{} // closed by the worker when it has returned
	closeOnce sync.Once
}

// queueSize bounds the exchanges waiting to be recorded: a burst larger
// than this, faster than the console masks, loses its excess (counted).
const queueSize = 256

//go:embed templates/*.html static/*
var assets embed.FS

// New makes a console for opts.Fake and starts recording the fake's
// exchanges (fakegoogle.Server.Observe): the fake then has no other
// observer. Close stops it.
func New(opts *Options) (*Console, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if o.Capacity == 0 {
		o.Capacity = DefaultCapacity
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{
		fake: o.Fake, path: o.Path, save: o.SaveState, stateFile: o.StateFile, about: o.About, log: o.Logger,
		timeline: newTimeline(o.Capacity), sessions: newSessions(o.Path),
		queue: make(chan *fakegoogle.Exchange, queueSize), stop: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	var err error
	if c.pages, err = c.parseTemplates(); err != nil {
		return nil, err
	}
	c.mux = c.routes()
	go c.work()
	o.Fake.Observe(c.record)
	return c, nil
}

// record queues one exchange for the worker; it runs on the request's
// goroutine, so it never waits.
func (c *Console) record(ex *fakegoogle.Exchange) {
	select {
	case c.queue <- ex:
	default:
		c.dropped.Add(1)
	}
}

// work masks and keeps the queued exchanges, in the order they were
// answered, until Close.
func (c *Console) work() {
	defer close(c.stopped)
	for {
		select {
		case ex := <-c.queue:
			c.timeline.add(analyze(c.fake, ex))
		case <-c.stop:
			return
		}
	}
}

// Path returns where the console is served, e.g. DefaultPath.
func (c *Console) Path() string { return c.path }

// Close stops recording and ends the pages' pending live updates, which
// would otherwise hold a server's shutdown open. It returns once the
// recording worker has stopped.
func (c *Console) Close() {
	c.closeOnce.Do(func() {
		c.fake.Observe(nil)
		close(c.stop)
		<-c.stopped
		c.timeline.close()
	})
}

// Handler returns a handler that serves the console under its path and
// hands every other request to next (the fake), untouched.
func (c *Console) Handler(next http.Handler) http.Handler {
	bare := strings.TrimSuffix(c.path, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, c.path) || r.URL.Path == bare {
			c.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sessionKey carries the request's session id to the handlers.
type sessionKey struct{}

// maxForm caps a form post: the largest is a pasted token.
const maxForm = 128 << 10

// ServeHTTP implements http.Handler: the defences (guard.go), then the
// page.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if err := loopbackOnly(r); err != nil {
		c.log.Warn("console: refused a client on another machine", "remote", r.RemoteAddr)
		hostcheck.WriteRefusal(w, http.StatusForbidden, err)
		return
	}
	if err := crossSite(r); err != nil {
		c.log.Warn("console: refused a cross-site request", "method", r.Method, "path", r.URL.Path)
		hostcheck.WriteRefusal(w, hostcheck.StatusCrossSite, err)
		return
	}
	if r.URL.Path == strings.TrimSuffix(c.path, "/") {
		http.Redirect(w, r, c.path, http.StatusMovedPermanently)
		return
	}
	session := c.sessions.session(w, r)
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := c.sessions.checkCSRF(r); err != nil {
			c.log.Warn("console: refused a form without its CSRF token", "path", r.URL.Path)
			hostcheck.WriteRefusal(w, http.StatusForbidden, err)
			return
		}
	}
	c.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, session)))
}

func sessionOf(r *http.Request) string {
	s, _ := r.Context().Value(sessionKey{}).(string)
	return s
}

func (c *Console) routes() *http.ServeMux {
	m := http.NewServeMux()
	p := c.path
	m.HandleFunc("GET "+p+"{$}", c.requestsPage)
	m.HandleFunc("GET "+p+"rows", c.rowsFragment)
	m.HandleFunc("GET "+p+"requests/{id}", c.requestPage)
	m.HandleFunc("GET "+p+"identities", c.identitiesPage)
	m.HandleFunc("POST "+p+"identities/{action}", c.identitiesForm)
	m.HandleFunc("GET "+p+"tokens", c.tokensPage)
	m.HandleFunc("POST "+p+"tokens/revoke", c.revokeForm)
	m.HandleFunc("POST "+p+"tokens/mint", c.mintForm)
	m.HandleFunc("POST "+p+"tokens/decode", c.decodeForm)
	m.HandleFunc("GET "+p+"faults", c.faultsPage)
	m.HandleFunc("POST "+p+"faults/{action}", c.faultsForm)
	static, _ := fs.Sub(assets, "static")
	m.Handle("GET "+p+"static/", http.StripPrefix(p+"static/", http.FileServerFS(static)))
	return m
}

// page is what every page's template gets: the layout's data, and the
// page's own in Data.
type page struct {
	Title  string
	Active string // the navigation entry to mark
	Base   string // the console's path
	CSRF   string
	Flash  flash
	About  []Fact
	Now    time.Time // on the fake's clock
	Data   any
}

// render writes a page with the layout.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	session := sessionOf(r)
	p := &page{
		Title: title, Active: name, Base: c.path, CSRF: c.sessions.csrf(session),
		Flash: c.sessions.takeFlash(session), About: c.about, Now: c.fake.Now(), Data: data,
	}
	c.execute(w, status, name, "layout", p)
}

// execute runs one template into a buffer first, so that a failure is a
// clean 500 rather than half a page.
func (c *Console) execute(w http.ResponseWriter, status int, page, tmpl string, data any) {
	var b strings.Builder
	if err := c.pages[page].ExecuteTemplate(&b, tmpl, data); err != nil {
		c.log.Error("console: render", "page", page, "err", err)
		http.Error(w, "console: render "+page+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// done ends a form: the outcome is shown on the page it redirects to
// (post/redirect/get, so that reloading does not post again).
func (c *Console) done(w http.ResponseWriter, r *http.Request, to string, f flash) {
	c.sessions.setFlash(sessionOf(r), f)
	http.Redirect(w, r, c.path+to, http.StatusSeeOther)
}

// changed persists an edit and says how it went.
func (c *Console) changed(w http.ResponseWriter, r *http.Request, to, what string) {
	if c.save != nil {
		if err := c.save(); err != nil {
			c.done(w, r, to, flash{Text: what + ", but saving the state failed: " + err.Error(), Error: true})
			return
		}
		if c.stateFile != "" {
			what += " (saved in " + c.stateFile + ")"
		}
	}
	c.done(w, r, to, flash{Text: what + "."})
}

// failed reports a refused edit.
func (c *Console) failed(w http.ResponseWriter, r *http.Request, to string, err error) {
	msg := strings.TrimPrefix(err.Error(), "fakegoogle: ")
	c.done(w, r, to, flash{Text: msg, Error: true})
}
