// Package httpserve holds what gcptoken's servers share about shutting down:
// connections that never sent a byte are closed at once instead of holding a
// graceful shutdown open.
package httpserve

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// UnusedConns tracks a server's connections that have not read a single
// byte of a request. Clients open such connections speculatively (Go's
// transport dials while it waits for a pooled connection, browsers
// preconnect); http.Server.Shutdown waits up to five seconds before it
// treats them as idle, which would make every shutdown slow or time out.
// Closing them loses nothing: no request has started on them.
type UnusedConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Track sets srv.ConnState to record unused connections, chaining any hook
// already set.
func (u *UnusedConns) Track(srv *http.Server) {
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
func (u *UnusedConns) Close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for c := range u.conns {
		_ = c.Close()
	}
	clear(u.conns)
}

// Shutdown shuts srv down gracefully within ctx, closing unused connections
// at once instead of waiting for them.
func (u *UnusedConns) Shutdown(ctx context.Context, srv *http.Server) error {
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	u.Close()
	return <-done
}
