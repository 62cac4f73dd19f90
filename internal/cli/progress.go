package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/internal/safetext"
)

// Every command that waits on the network takes --timeout, and shows on a
// terminal what it waits for once a wait passes progressDelay: one status
// line on stderr, rewritten in place and erased when the wait ends. A
// timeout (--timeout, or one of the library's own bounds) names the
// endpoint, the attempts made and what to check.
//
// The requests are followed through net/http/httptrace, attached to the
// command's context, rather than by wrapping the HTTP client: the library's
// default clients (timeouts, no proxy for the metadata server) stay as they
// are, and every request made with the context, including the cache's
// detached refresh, which keeps the context's values, is seen.

// progressDelay is how long a wait lasts before the status line appears.
const progressDelay = 2 * time.Second

// tokenAttempts is how many attempts the token caches make (the default of
// gcptoken.CacheOptions.MaxAttempts), for "attempt n of m".
const tokenAttempts = 3

// bindTimeout adds --timeout to cmd and runs its RunE under that deadline,
// with the progress line. def is the default (0: no deadline of the
// command's own; the library's bounds still apply).
func bindTimeout(cmd *cobra.Command, app *App, def time.Duration) {
	var timeout time.Duration
	help := "give up after `DURATION` (e.g. 30s)"
	if def > 0 {
		help += fmt.Sprintf("; default %s", def)
	} else {
		help += "; default: no limit beyond 20s per attempt of a token request, 3 attempts"
	}
	cmd.Flags().DurationVar(&timeout, "timeout", def, help)
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if timeout < 0 {
			return usagef("--timeout %s: want a positive duration, e.g. 30s", timeout)
		}
		ctx := c.Context()
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		p := newProgress(app)
		ctx = httptrace.WithClientTrace(ctx, p.trace())
		app.progress, app.timeout = p, timeout
		defer func() { app.progress, app.timeout = nil, 0 }()
		c.SetContext(ctx)
		stop := p.start()
		err := run(c, args)
		stop()
		if err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded)) {
			return p.timeoutError(err, timeout, app.Getenv)
		}
		return err
	}
}

// progress follows one command's waits.
type progress struct {
	w        io.Writer
	show     bool // a terminal (or a test) sees the status line
	delay    time.Duration
	start0   time.Time
	mu       sync.Mutex
	what     string   // what the command waits for: "an access token"
	urls     []string // the endpoints it may ask, to name a host:port fully
	attempts int      // attempts it makes (0: unknown)
	host     string   // the host:port of the last request started
	since    time.Time
	started  map[string]int // requests started per host:port in this phase
	pending  int            // requests started and not yet answered
	lineLen  int            // length of the status line shown, 0 if none
	shown    string         // the status line shown
}

func newProgress(app *App) *progress {
	return &progress{w: app.Err, show: app.forceProgress || isTerminal(app.Err),
		delay: max(app.progressDelay, 0), started: map[string]int{}}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// phase says what the command waits for next, which endpoints it may ask
// and how many attempts it makes; requests are counted afresh.
func (p *progress) phase(what string, urls []string, attempts int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.what, p.urls, p.attempts = what, urls, attempts
	p.started, p.host = map[string]int{}, ""
}

func (p *progress) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(hostPort string) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.started[hostPort]++
			p.pending++
			p.host, p.since = hostPort, time.Now()
		},
		GotFirstResponseByte: func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.pending = max(p.pending-1, 0)
		},
	}
}

// start shows the status line, from the delay on, until the returned
// function erases it and stops. Nothing runs before the delay: most
// commands (a cached token) are done by then, and a goroutine waiting on
// the command's context would install its signal handler
// (interruptContext) for nothing.
func (p *progress) start() (stop func()) {
	p.start0 = time.Now()
	if !p.show {
		return func() {}
	}
	delay := p.delay
	if delay == 0 {
		delay = progressDelay
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	timer := time.AfterFunc(delay, func() {
		defer close(finished)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			p.render()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() {
		close(done)
		if timer.Stop() {
			return // it never showed
		}
		<-finished
		p.erase()
	}
}

// render rewrites the status line.
func (p *progress) render() {
	p.mu.Lock()
	line := p.statusLocked()
	p.mu.Unlock()
	if line == "" {
		return
	}
	line = "gcptoken: " + safetext.OneLine(line)
	if line == p.shown {
		return
	}
	p.shown = line
	pad := ""
	if n := p.lineLen - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
	p.lineLen = len(line)
}

func (p *progress) erase() {
	if p.lineLen > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.lineLen))
		p.lineLen, p.shown = 0, ""
	}
}

// statusLocked is the status line: what is awaited, from where, which
// attempt, for how long.
func (p *progress) statusLocked() string {
	if p.host == "" {
		if p.what == "" {
			return ""
		}
		return fmt.Sprintf("waiting for %s (%s)…", p.what, seconds(time.Since(p.start0)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "waiting for %s from %s", cmp.Or(p.what, "an answer"), p.endpointLocked())
	if p.attempts > 1 {
		fmt.Fprintf(&b, " (attempt %d of %d, %s)", min(p.started[p.host], p.attempts), p.attempts, seconds(time.Since(p.since)))
	} else {
		fmt.Fprintf(&b, " (%s)", seconds(time.Since(p.since)))
	}
	if p.pending == 0 {
		b.WriteString(", between attempts")
	}
	return b.String() + "…"
}

// endpointLocked names the last host:port asked: the endpoint URL on it
// when the phase knows exactly one.
func (p *progress) endpointLocked() string {
	var match string
	for _, u := range p.urls {
		pu, err := url.Parse(u)
		if err != nil || hostPort(pu) != p.host {
			continue
		}
		if match != "" && match != u {
			return p.host
		}
		match = u
	}
	if match != "" {
		return stripQuery(match)
	}
	return p.host
}

// hostPort is u's host with the scheme's default port, as GetConn names it.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return u.Host + ":443"
	}
	return u.Host + ":80"
}

func stripQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

func seconds(d time.Duration) string { return d.Round(time.Second).String() }

// timeoutError words a deadline that ended the command: what it waited
// for, from where, after how many attempts, and what to check. It keeps
// err's chain (and so its exit code).
func (p *progress) timeoutError(err error, timeout time.Duration, getenv func(string) string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.host == "" && p.what == "" || p.host == "" && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if p.host == "" {
		// No request was made: the error says what was being read (a
		// file, a pipe); only what to do is added.
		return &timeoutFailure{msg: err.Error() + " (nothing came in time: is the file a pipe or a FIFO no one writes?)", err: err}
	}
	var b strings.Builder
	ownTimeout := timeout > 0 && time.Since(p.start0) >= timeout-50*time.Millisecond
	if ownTimeout {
		fmt.Fprintf(&b, "timed out after %s (--timeout)", timeout)
	} else {
		fmt.Fprintf(&b, "gave up after %s", seconds(time.Since(p.start0)))
	}
	if p.what != "" {
		fmt.Fprintf(&b, " waiting for %s", p.what)
	}
	if p.host != "" {
		fmt.Fprintf(&b, " from %s", p.endpointLocked())
		n := p.started[p.host]
		switch {
		case p.attempts > 1:
			fmt.Fprintf(&b, " (attempt %d of %d)", min(n, p.attempts), p.attempts)
		case n > 1:
			fmt.Fprintf(&b, " (%d requests made)", n)
		}
		b.WriteString(": no answer in time; check that the endpoint is up and reachable from here")
		if h := getenv(envEmulatorHost); h != "" && strings.HasPrefix(p.host, h) {
			fmt.Fprintf(&b, " (it is the emulator at %s=%s: is `gcptoken emulator` running?)", envEmulatorHost, h)
		}
	} else {
		b.WriteString(": nothing answered")
	}
	if ownTimeout {
		b.WriteString(", or raise --timeout")
	} else {
		b.WriteString(", or wait longer with --timeout 5m")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		// The deadline ended a command that had failed otherwise first.
		fmt.Fprintf(&b, " (the last error: %s)", err)
	}
	return &timeoutFailure{msg: b.String(), err: err}
}

// timeoutFailure is a command ended by a deadline; its chain is the
// failure's, for the exit code.
type timeoutFailure struct {
	msg string
	err error
}

func (e *timeoutFailure) Error() string { return e.msg }
func (e *timeoutFailure) Unwrap() error { return e.err }
