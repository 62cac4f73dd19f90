package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// TestCacheClearOnePrincipal: `cache clear PRINCIPAL` drops that
// principal's tokens, every kind, and keeps the others', which status
// lists without their values.
func TestCacheClearOnePrincipal(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	key := saKeyFile(t, f)
	user, _ := userFile(t, f)
	at := strings.TrimSpace(run(t, e, "", "print-access-token", "--credentials", key).stdout)
	wantCode(t, run(t, e, "", "print-identity-token", "--credentials", key, "--audience", "https://svc.example"), 0)
	wantCode(t, run(t, e, "", "print-access-token", "--credentials", user), 0)

	var st struct {
		Cache struct {
			Tokens []struct{ Principal, Kind string }
		}
	}
	status := run(t, e, "", "status", "--format", "json")
	wantCode(t, status, 0)
	if strings.Contains(status.stdout, at) {
		t.Fatalf("status printed a token:\n%s", status.stdout)
	}
	if err := json.Unmarshal([]byte(status.stdout), &st); err != nil || len(st.Cache.Tokens) != 3 {
		t.Fatalf("status lists %+v (%v); want 3 cached tokens", st.Cache.Tokens, err)
	}

	r := run(t, e, "", "cache", "clear", fakegoogle.DefaultServiceAccount)
	wantCode(t, r, 0)
	want := "Removed 2 cached token(s) of " + fakegoogle.DefaultServiceAccount + " from " + filepath.Clean(e["GCPTOKEN_CACHE_DIR"])
	if !strings.Contains(r.stdout, want) {
		t.Errorf("cache clear said %q; want %q", r.stdout, want)
	}
	st.Cache.Tokens = nil
	if err := json.Unmarshal([]byte(run(t, e, "", "status", "--format", "json").stdout), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Cache.Tokens) != 1 || st.Cache.Tokens[0].Principal != fakegoogle.DefaultUser {
		t.Errorf("after clearing %s the cache holds %+v; want only %s's token", fakegoogle.DefaultServiceAccount, st.Cache.Tokens, fakegoogle.DefaultUser)
	}
}

// TestEmulatorWait: `emulator wait` returns once the emulator started on a
// state directory answers with that directory's keys, and gives up with
// --timeout, exit status 4, saying what it waited for.
func TestEmulatorWait(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "fake-google")
	ctx, stop := context.WithCancel(t.Context())
	served := make(chan int, 1)
	go func() {
		served <- Run(ctx, &App{Getenv: newEnv(t).getenv}, []string{"emulator", "--listen", "127.0.0.1:0", "--state-dir", dir, "--quiet"})
	}()
	t.Cleanup(func() { stop(); <-served })

	r := run(t, newEnv(t), "", "emulator", "wait", "--state-dir", dir, "--timeout", "30s")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "Fake Google is up at http://127.0.0.1:") || !strings.Contains(r.stdout, filepath.Join(dir, "env.sh")) {
		t.Errorf("emulator wait printed %q", r.stdout)
	}

	start := time.Now()
	r = run(t, newEnv(t), "", "emulator", "wait", "--state-dir", filepath.Join(t.TempDir(), "nothing"), "--timeout", "300ms")
	wantCode(t, r, ExitUnavailable)
	wantOneLineError(t, r, "timed out after 300ms (--timeout)", "no env.sh in the state directory yet", "gcptoken emulator --state-dir")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("--timeout 300ms took %s", d)
	}
}

func (e env) getenv(k string) string { return e[k] }
