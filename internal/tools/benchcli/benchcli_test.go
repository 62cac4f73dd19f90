package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestBenchCLI runs the whole benchmark with two rounds per command: the
// binaries build, the cache warms, each cached command prints the cached
// token without reaching the fake, the uncached one reaches it once per
// run, and the report has a line per command.
func TestBenchCLI(t *testing.T) {
	var out bytes.Buffer
	if err := run(2, "", false, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cached print-access-token", "cached print-identity-token", "git-credential get",
		"docker-credential get", "kubectl-credential", "uncached print-access-token", "load average", "ratio"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report has no %q:\n%s", want, out.String())
		}
	}
}

// BenchmarkCLI runs each command, and each floor, as a whole process: the
// same cases as `make bench-cli`, which alternates them and reports their
// ratios.
func BenchmarkCLI(b *testing.B) {
	ctx := context.Background()
	root, err := repoRoot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	bench, err := Setup(ctx, root)
	if err != nil {
		b.Fatal(err)
	}
	defer bench.Close()
	for _, c := range bench.Cases() {
		for _, side := range []struct {
			name       string
			isGcptoken bool
		}{{"gcptoken", true}, {"floor", false}} {
			bin := c.floorBin
			if side.isGcptoken {
				bin = bench.gcptoken
			}
			b.Run(c.Name+"/"+side.name, func(b *testing.B) {
				for b.Loop() {
					if _, _, err := bench.run(ctx, bin, &c, side.isGcptoken); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
