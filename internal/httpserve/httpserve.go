// Package httpserve is the one serve loop of gcptoken's servers (the
// metadata server, the authenticating proxy, the emulator and its HTTPS
// proxy): serve until the context ends, then shut down gracefully, closing
// connections that never sent a byte at once instead of letting them hold
// the shutdown open.
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultGrace is how long requests in flight get to finish after the
// context ends, unless Options.Grace says otherwise.
const DefaultGrace = 5 * time.Second

// ErrGraceExpired is wrapped by the error Serve returns when requests were
// still open at the end of the grace period and had to be cut.
var ErrGraceExpired = errors.New("requests still open after the grace period were cut")

// Options tune Serve for one server. A nil *Options means the defaults.
type Options struct {
	// Grace is how long requests in flight get to finish once the context
	// ends. Optional; default DefaultGrace.
	Grace time.Duration
	// Stopping runs once the context ends, before the shutdown starts: it
	// ends what would otherwise outlive any grace period, such as long
	// polls. Optional.
	Stopping func()
	// Drain waits, within the grace period (its ctx), for what
	// http.Server.Shutdown neither waits for nor closes: hijacked
	// connections such as WebSockets. Optional.
	Drain func(ctx context.Context) error
	// Cut runs when the grace period is over with requests still open,
	// just before their connections are closed: e.g. to cancel the
	// requests' base context, which ends hijacked connections. Optional.
	Cut func()
}

// Serve serves srv on ln until ctx is done or serving fails, then shuts srv
// down: new connections are refused, unused ones closed at once
// (unusedConns), and requests in flight get the grace period to finish;
// any still open after it are cut. It returns nil after a clean shutdown,
// an error wrapping ErrGraceExpired when requests were cut, or the error
// that stopped serving. ln is closed when Serve returns. Serve sets
// srv.ConnState (chaining a hook already set); the rest of srv is the
// caller's.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, opts *Options) error {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	var unused unusedConns
	unused.Track(srv)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if o.Stopping != nil {
		o.Stopping()
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.Grace)
	defer cancel()
	err := unused.Shutdown(sctx, srv)
	if err == nil && o.Drain != nil {
		err = o.Drain(sctx)
	}
	if err != nil {
		if o.Cut != nil {
			o.Cut()
		}
		_ = srv.Close()
		err = fmt.Errorf("shutdown: %w (after %v)", ErrGraceExpired, o.Grace)
	}
	<-errc // http.ErrServerClosed
	return err
}

// unusedConns tracks a server's connections that have not read a single
// byte of a request. Clients open such connections speculatively (Go's
// transport dials while it waits for a pooled connection, browsers
// preconnect); http.Server.Shutdown waits up to five seconds before it
// treats them as idle, which would make every shutdown slow or time out.
// Closing them loses nothing: no request has started on them.
type unusedConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Track sets srv.ConnState to record unused connections, chaining any hook
// already set.
func (u *unusedConns) Track(srv *http.Server) {
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		u.mu.Lock()
		if st == http.StateNew {
			if u.conns == nil {
				u.conns = map[net.Conn]struct{}{}
			}
			u.conns[c] = struct{}{}
		} else {
			delete(u.conns, c)
		}
		u.mu.Unlock()
		if prev != nil {
			prev(c, st)
		}
	}
}

// Close closes every connection that is still unused. Call it right after
// starting http.Server.Shutdown (which stops the listener, so no new ones
// arrive).
func (u *unusedConns) Close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for c := range u.conns {
		_ = c.Close()
	}
	clear(u.conns)
}

// Shutdown shuts srv down gracefully within ctx, closing unused connections
// at once instead of waiting for them.
func (u *unusedConns) Shutdown(ctx context.Context, srv *http.Server) error {
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	u.Close()
	return <-done
}
