//go:build unix

package kubetest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestStagingReplaces checks the build module's pins against the go.mod
// that k8s.io/kubernetes publishes: every staging module it replaces with a
// directory is pinned at the matching v0 release instead.
func TestStagingReplaces(t *testing.T) {
	lines, err := stagingReplaces(t.Context(), buildEnv(), t.TempDir(), "v0.37.2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"k8s.io/api => k8s.io/api v0.37.2",
		"k8s.io/apiserver => k8s.io/apiserver v0.37.2",
		"k8s.io/client-go => k8s.io/client-go v0.37.2",
		"k8s.io/component-base => k8s.io/component-base v0.37.2",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("replace lines lack %q; got %q", want, lines)
		}
	}
}

// TestEnsureReusesCache checks that a cached binary is used as it is: the
// recipe names a module that does not exist, so any build attempt fails.
func TestEnsureReusesCache(t *testing.T) {
	cache := t.TempDir()
	r := recipe{name: "server", version: "v1.0.0", module: "example.invalid/none", pkg: "example.invalid/none"}
	cached := filepath.Join(cache, "server-v1.0.0", "server")
	if err := os.MkdirAll(filepath.Dir(cached), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cached, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := ensure(t.Context(), cache, r, t.Logf)
	if err != nil || got != cached {
		t.Fatalf("ensure = %q, %v; want %q, nil", got, err, cached)
	}
}

// TestLockFile checks that a second holder waits for the first, as two test
// binaries building the same server do.
func TestLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "build.lock")
	unlock, err := lockFile(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
	defer cancel()
	if _, err := lockFile(ctx, path); err == nil {
		t.Fatal("second lock while the first is held: got nil error; want a time-out")
	}
	unlock()
	unlock2, err := lockFile(t.Context(), path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	unlock2()
}
