package httpserve

import (
	"context"
	"errors"
	"io"
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
	var unused unusedConns
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

// serveInBackground runs Serve on a fresh loopback listener and returns its
// address and the channel Serve's result arrives on.
func serveInBackground(t *testing.T, ctx context.Context, h http.Handler, opts *Options) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, &http.Server{Handler: h}, ln, opts) }()
	return "http://" + ln.Addr().String(), done
}

func waitServe(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

// TestServeLetsRequestsFinish checks the graceful path: a request in
// flight when the context ends completes, Stopping runs first, Drain runs,
// and Serve returns nil.
func TestServeLetsRequestsFinish(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.Write([]byte("done"))
	})
	var stopping, drained bool
	ctx, cancel := context.WithCancel(context.Background())
	url, done := serveInBackground(t, ctx, h, &Options{
		Stopping: func() { stopping = true; close(release) },
		Drain:    func(context.Context) error { drained = true; return nil },
	})
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-started
	cancel()
	if err := waitServe(t, done); err != nil {
		t.Errorf("got Serve = %v; want nil after a clean shutdown", err)
	}
	if body := <-got; body != "done" {
		t.Errorf("got response %q; want the request in flight to finish with %q", body, "done")
	}
	if !stopping || !drained {
		t.Errorf("got Stopping run %v, Drain run %v; want both", stopping, drained)
	}
}

// TestServeCutsAfterGrace checks the forced path: a request still open
// after the grace period is cut, Cut runs, and the error says so.
func TestServeCutsAfterGrace(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	cut := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	url, done := serveInBackground(t, ctx, h, &Options{Grace: 50 * time.Millisecond, Cut: func() { close(cut) }})
	go func() {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	err := waitServe(t, done)
	if !errors.Is(err, ErrGraceExpired) {
		t.Errorf("got Serve = %v; want ErrGraceExpired", err)
	}
	select {
	case <-cut:
	default:
		t.Error("Cut did not run")
	}
}

// TestServeReportsServeFailure checks that an error that stops serving
// (here: a listener already closed) is returned without waiting for ctx.
func TestServeReportsServeFailure(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	done := make(chan error, 1)
	go func() { done <- Serve(context.Background(), &http.Server{Handler: http.NotFoundHandler()}, ln, nil) }()
	if err := waitServe(t, done); err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Errorf("got Serve = %v; want the listener's error", err)
	}
}
