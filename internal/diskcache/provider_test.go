package diskcache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

// countingSource returns a fresh token per call and counts calls.
type countingSource struct {
	calls  atomic.Int32
	expiry time.Time
	delay  time.Duration
	err    error
}

func (s *countingSource) Token(ctx context.Context) (*gcptoken.Token, error) {
	n := s.calls.Add(1)
	time.Sleep(s.delay)
	if s.err != nil {
		return nil, s.err
	}
	return newToken(fmt.Sprintf("token-%d", n), s.expiry), nil
}

func TestProvider(t *testing.T) {
	t.Parallel()
	errSource := errors.New("source down")
	tests := []struct {
		name      string
		cached    *gcptoken.Token // pre-existing entry
		window    time.Duration
		sourceErr error
		wantValue string
		wantCalls int32
		wantErr   error
	}{
		{name: "cold", wantValue: "token-1", wantCalls: 1},
		{name: "warm", cached: newToken("cached", t0.Add(time.Hour)), wantValue: "cached", wantCalls: 0},
		{name: "inside default window", cached: newToken("cached", t0.Add(4*time.Minute)), wantValue: "token-1", wantCalls: 1},
		{name: "outside custom window", cached: newToken("cached", t0.Add(4*time.Minute)), window: time.Minute, wantValue: "cached"},
		{name: "expired", cached: newToken("cached", t0.Add(-time.Minute)), window: -1, wantValue: "token-1", wantCalls: 1},
		{name: "source error", sourceErr: errSource, wantCalls: 1, wantErr: errSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &Cache{Dir: t.TempDir(), Now: fixedNow(t0)}
			key := testKey("p")
			if tt.cached != nil {
				if err := c.Put(key, tt.cached); err != nil {
					t.Fatal(err)
				}
			}
			src := &countingSource{expiry: t0.Add(time.Hour), err: tt.sourceErr}
			var reported []error
			p := &Provider{Cache: c, Key: key, Source: src, MinRemaining: tt.window,
				OnError: func(err error) { reported = append(reported, err) }}
			got, err := p.Token(context.Background())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Token() error = %v; want %v", err, tt.wantErr)
			}
			if err == nil && got.Value != tt.wantValue {
				t.Errorf("Token().Value = %q; want %q", got.Value, tt.wantValue)
			}
			if n := src.calls.Load(); n != tt.wantCalls {
				t.Errorf("source calls = %d; want %d", n, tt.wantCalls)
			}
			if len(reported) != 0 {
				t.Errorf("OnError got %v; want nothing", reported)
			}
			if tt.wantErr == nil {
				// The fetched token is now what the next call sees.
				if again, ok := c.Get(key, 0); !ok || again.Value != tt.wantValue {
					t.Errorf("Get after Token = %v, %v; want %q", again, ok, tt.wantValue)
				}
			}
		})
	}
}

func TestProviderCacheFailureDoesNotFailFetch(t *testing.T) {
	t.Parallel()
	// A regular file where the directory should be: nothing can be cached.
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		dir    string
		expiry time.Time
	}{
		{name: "unusable dir", dir: filepath.Join(notADir, "cache"), expiry: t0.Add(time.Hour)},
		{name: "token without expiry", dir: t.TempDir()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var reported []error
			src := &countingSource{expiry: tt.expiry}
			p := &Provider{
				Cache:   &Cache{Dir: tt.dir, Now: fixedNow(t0)},
				Key:     testKey("p"),
				Source:  src,
				OnError: func(err error) { reported = append(reported, err) },
			}
			got, err := p.Token(context.Background())
			if err != nil || got.Value != "token-1" {
				t.Fatalf("Token() = %v, %v; want token-1, nil", got, err)
			}
			if len(reported) == 0 {
				t.Errorf("OnError was not called")
			}
			// And without OnError it must not panic.
			p.OnError = nil
			if _, err := p.Token(context.Background()); err != nil {
				t.Errorf("Token() without OnError = %v", err)
			}
		})
	}
}

func TestProviderValidate(t *testing.T) {
	t.Parallel()
	c := &Cache{Dir: t.TempDir()}
	src := &countingSource{expiry: t0.Add(time.Hour)}
	tests := []struct {
		name string
		p    *Provider
	}{
		{name: "no cache", p: &Provider{Key: testKey("a"), Source: src}},
		{name: "no source", p: &Provider{Cache: c, Key: testKey("a")}},
		{name: "no identity", p: &Provider{Cache: c, Key: KeyParts{Kind: gcptoken.AccessToken}, Source: src}},
		{name: "unknown kind", p: &Provider{Cache: c, Key: KeyParts{Identity: "a", Kind: "refresh_token"}, Source: src}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tt.p.Token(context.Background()); err == nil {
				t.Errorf("Token() = nil error; want a validation error")
			}
		})
	}
}

// TestProviderCoalescesGoroutines uses a separate Cache value per goroutine,
// as separate processes would have: only the file lock and the re-check
// after taking it can stop duplicate fetches.
func TestProviderCoalescesGoroutines(t *testing.T) {
	t.Parallel()
	if !lockSupported {
		t.Skip("no inter-process lock on this platform")
	}
	dir := t.TempDir()
	key := testKey("shared")
	src := &countingSource{expiry: time.Now().Add(time.Hour), delay: 50 * time.Millisecond}
	const n = 32
	start := make(chan struct{})
	values := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := &Provider{Cache: &Cache{Dir: dir}, Key: key, Source: src}
			<-start
			tok, err := p.Token(context.Background())
			errs[i] = err
			if tok != nil {
				values[i] = tok.Value
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || values[i] != "token-1" {
			t.Errorf("goroutine %d: Token() = %q, %v; want token-1, nil", i, values[i], errs[i])
		}
	}
	if got := src.calls.Load(); got != 1 {
		t.Errorf("source calls = %d; want 1", got)
	}
}

func TestProviderLockHonoursContext(t *testing.T) {
	t.Parallel()
	if !lockSupported {
		t.Skip("no inter-process lock on this platform")
	}
	c := &Cache{Dir: t.TempDir(), Now: fixedNow(t0)}
	key := testKey("held")
	d, err := c.open(true)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	unlock, err := d.lock(context.Background(), Key(key))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	src := &countingSource{expiry: t0.Add(time.Hour)}
	var reported []error
	p := &Provider{Cache: c, Key: key, Source: src, OnError: func(err error) { reported = append(reported, err) }}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err = p.Token(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Token() with held lock = %v; want %v", err, context.DeadlineExceeded)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("Token() took %v to notice the deadline", d)
	}
	if n := src.calls.Load(); n != 0 {
		t.Errorf("source calls = %d; want 0", n)
	}
	if len(reported) != 0 {
		t.Errorf("OnError got %v; a caller's deadline is not a cache error", reported)
	}
}

// Environment of the helper process started by TestProviderCoalescesProcesses.
const (
	envHelper  = "GCPTOKEN_DISKCACHE_HELPER"
	envDir     = "GCPTOKEN_DISKCACHE_HELPER_DIR"
	envCounter = "GCPTOKEN_DISKCACHE_HELPER_COUNTER"
	envStart   = "GCPTOKEN_DISKCACHE_HELPER_START"
)

// TestMain runs the test binary as one racing helper process when
// TestProviderCoalescesProcesses re-executes it, and as the tests otherwise.
func TestMain(m *testing.M) {
	if os.Getenv(envHelper) == "1" {
		helperProcess() // exits
	}
	os.Exit(m.Run())
}

// helperProcess is the body of one racing process: it takes a token through
// the shared cache and prints it.
func helperProcess() {
	// Start together: wait for the parent's go signal.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(os.Getenv(envStart)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "helper: no start signal")
			os.Exit(2)
		}
		time.Sleep(time.Millisecond)
	}
	src := gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		f, err := os.OpenFile(os.Getenv(envCounter), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if _, err := fmt.Fprintf(f, "%d\n", os.Getpid()); err != nil {
			return nil, err
		}
		// Hold the lock long enough that every other process queues on it.
		time.Sleep(100 * time.Millisecond)
		return newToken("token-from-"+strconv.Itoa(os.Getpid()), time.Now().Add(time.Hour)), nil
	})
	p := &Provider{
		Cache:   &Cache{Dir: os.Getenv(envDir)},
		Key:     testKey("multi-process"),
		Source:  src,
		OnError: func(err error) { fmt.Fprintln(os.Stderr, "helper: cache error:", err) },
	}
	tok, err := p.Token(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	fmt.Printf("TOKEN=%s\n", tok.Value)
	os.Exit(0)
}

func TestProviderCoalescesProcesses(t *testing.T) {
	t.Parallel()
	if !lockSupported {
		t.Skip("no inter-process lock on this platform")
	}
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "cache")
	counter := filepath.Join(tmp, "fetches")
	startFile := filepath.Join(tmp, "go")

	const n = 8
	cmds := make([]*exec.Cmd, n)
	outs := make([]*strings.Builder, n)
	for i := range n {
		cmd := exec.Command(os.Args[0]) // TestMain runs helperProcess
		cmd.Env = append(os.Environ(),
			envHelper+"=1", envDir+"="+dir, envCounter+"="+counter, envStart+"="+startFile)
		outs[i] = new(strings.Builder)
		cmd.Stdout = outs[i]
		cmd.Stderr = outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatalf("start helper %d: %v", i, err)
		}
		cmds[i] = cmd
	}
	if err := os.WriteFile(startFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var token string
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper %d: %v\n%s", i, err, outs[i])
			continue
		}
		_, rest, ok := strings.Cut(outs[i].String(), "TOKEN=")
		got, _, _ := strings.Cut(rest, "\n")
		if !ok || got == "" {
			t.Errorf("helper %d printed no token:\n%s", i, outs[i])
			continue
		}
		if token == "" {
			token = got
		} else if got != token {
			t.Errorf("helper %d got %q; helper 0 got %q", i, got, token)
		}
	}
	data, err := os.ReadFile(counter)
	if err != nil {
		t.Fatalf("read fetch counter: %v", err)
	}
	if lines := strings.Fields(string(data)); len(lines) != 1 {
		t.Errorf("fetches = %d (pids %v); want exactly 1", len(lines), lines)
	}
}
