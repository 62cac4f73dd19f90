package httpserve

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestShutdownIsNotHeldByUnusedConnections(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	var unused UnusedConns
	unused.Track(srv)
	go srv.Serve(ln)

	// A connection that never sends a request, as a speculative dial does.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		unused.mu.Lock()
		n := len(unused.conns)
		unused.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never accepted the connection")
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := unused.Shutdown(ctx, srv); err != nil {
		t.Fatalf("Shutdown = %v; want nil: an unused connection held it open", err)
	}
}
