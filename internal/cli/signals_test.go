package cli

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// TestInterruptContextInstallsOnWait: the signal handler is installed by
// the first wait on the context, not before; Err and Value answer for the
// parent until then, and for the signal context after.
func TestInterruptContextInstallsOnWait(t *testing.T) {
	t.Parallel()
	parent, cancel := context.WithCancelCause(context.Background())
	ctx := newInterruptContext(parent, os.Interrupt)
	defer ctx.Stop()
	if ctx.Err() != nil || ctx.watched.Load() {
		t.Fatalf("before Done: Err = %v, watched = %v; want nil, false", ctx.Err(), ctx.watched.Load())
	}
	done := ctx.Done()
	if !ctx.watched.Load() {
		t.Fatal("after Done: watched = false; want true")
	}
	child, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	errStop := errors.New("stopped")
	cancel(errStop)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the parent ended, the context did not")
	}
	<-child.Done()
	if got := context.Cause(child); !errors.Is(got, errStop) {
		t.Errorf("context.Cause(child) = %v; want %v", got, errStop)
	}
}

// TestCachedTokenCommandsInstallNoSignalHandler: a command that serves a
// cached token never waits, so it never installs the signal handler (its
// thread and system calls are a measurable part of the start-up budget);
// a cache miss, which makes a request, does.
func TestCachedTokenCommandsInstallNoSignalHandler(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := helperEnv(t, f)
	execInfo := `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}`
	tests := []struct {
		name  string
		args  []string
		stdin string
		env   map[string]string
	}{
		{"print-access-token", []string{"print-access-token"}, "", nil},
		{"print-identity-token", []string{"print-identity-token", "--audience", "https://a.example.com"}, "", nil},
		{"git-credential get", []string{"git-credential", "get"}, "protocol=https\nhost=source.developers.google.com\n\n", nil},
		{"docker-credential get", []string{"docker-credential", "get"}, "us-docker.pkg.dev\n", nil},
		{"kubectl-credential", []string{"kubectl-credential"}, "", map[string]string{"KUBERNETES_EXEC_INFO": execInfo}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ee := env{"GCPTOKEN_CACHE_DIR": t.TempDir()}
			for k, v := range e {
				if k != "GCPTOKEN_CACHE_DIR" {
					ee[k] = v
				}
			}
			for k, v := range tt.env {
				ee[k] = v
			}
			for i, wantWatched := range []bool{true, false} { // a miss, then a hit
				ctx := newInterruptContext(context.Background(), os.Interrupt)
				// forceProgress: stderr is a terminal, as when a user
				// runs the command, or $(gcptoken print-access-token).
				app := &App{In: strings.NewReader(tt.stdin), forceProgress: true}
				r := runApp(t, ctx, ee, app, 30*time.Second, tt.args...)
				ctx.Stop()
				wantCode(t, r, ExitOK)
				if got := ctx.watched.Load(); got != wantWatched {
					t.Errorf("run %d (cache %s): signal handler installed = %v; want %v", i+1, map[bool]string{true: "miss", false: "hit"}[wantWatched], got, wantWatched)
				}
			}
		})
	}
}
