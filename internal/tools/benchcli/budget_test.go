package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The start-up budget of a cached token command, in allocations at
// package init (GODEBUG=inittrace=1), which, unlike time, do not depend on
// how busy the machine is. docs/performance.md section 1 has the figures:
// 3,471 allocations before the start-up work, 729 after, of which this
// repository's packages make 2 per sync.OnceValue (what it costs to
// declare one) and nothing else.
const (
	// repoPackageInitAllocs bounds each of this repository's packages:
	// one regexp or template built at init costs more than this.
	repoPackageInitAllocs = 32
	// repoInitAllocs bounds this repository's packages together (70
	// today): a small regexp (20 to 40 allocations) anywhere shows.
	repoInitAllocs = 85
	// totalInitAllocs bounds the whole binary, third-party and standard
	// packages included, so that a new dependency's init shows too.
	totalInitAllocs = 900
)

const repoModule = "github.com/gcptoken/gcptoken"

// TestStartupBudget runs each cached command of the benchmark, built as
// released, with GODEBUG=inittrace=1, and holds its package inits to the
// budget: whatever a command does not need is built on first use
// (sync.OnceValue), not at init. A failure names the packages over it.
func TestStartupBudget(t *testing.T) {
	ctx := context.Background()
	root, err := repoRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Setup(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, c := range b.Cases() {
		if c.Uncached {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			inits, err := b.initTrace(ctx, &c)
			if err != nil {
				t.Fatal(err)
			}
			total, repo := 0, 0
			var repoInits []packageInit
			for _, in := range inits {
				total += in.allocs
				if strings.HasPrefix(in.pkg, repoModule) {
					repo += in.allocs
					repoInits = append(repoInits, in)
				}
				if strings.HasPrefix(in.pkg, repoModule) && in.allocs > repoPackageInitAllocs {
					t.Errorf("package %s makes %d allocations at init; the budget is %d per package of this repository: build its regexps, templates and tables on first use (sync.OnceValue)",
						in.pkg, in.allocs, repoPackageInitAllocs)
				}
			}
			if repo > repoInitAllocs {
				t.Errorf("this repository's packages make %d allocations at init; the budget is %d: build regexps, templates and tables on first use (sync.OnceValue). The largest: %s",
					repo, repoInitAllocs, largest(repoInits, 8))
			}
			if total > totalInitAllocs {
				t.Errorf("package inits make %d allocations; the budget is %d. The largest: %s", total, totalInitAllocs, largest(inits, 8))
			}
			if len(inits) == 0 {
				t.Error("GODEBUG=inittrace=1 printed no init lines")
			}
		})
	}
}

// packageInit is one line of GODEBUG=inittrace=1:
// "init PKG @T ms, T ms clock, B bytes, A allocs".
type packageInit struct {
	pkg    string
	allocs int
}

// initTrace runs gcptoken for c with GODEBUG=inittrace=1 and returns the
// inits it traced.
func (b *Bench) initTrace(ctx context.Context, c *Case) ([]packageInit, error) {
	cmd := exec.CommandContext(ctx, b.gcptoken, c.Args...)
	cmd.Env = append(append(append([]string{}, b.env...), c.Env...), "GODEBUG=inittrace=1")
	cmd.Stdin = strings.NewReader(c.Stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("gcptoken %s: %v: %s", strings.Join(c.Args, " "), err, stderr.String())
	}
	var inits []packageInit
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 11 || f[0] != "init" || f[10] != "allocs" {
			continue
		}
		n, err := strconv.Atoi(f[9])
		if err != nil {
			return nil, fmt.Errorf("inittrace line %q: %v", sc.Text(), err)
		}
		inits = append(inits, packageInit{pkg: f[1], allocs: n})
	}
	return inits, nil
}

// largest lists the n packages with the most allocations at init.
func largest(inits []packageInit, n int) string {
	s := append([]packageInit(nil), inits...)
	sort.Slice(s, func(i, j int) bool { return s[i].allocs > s[j].allocs })
	var parts []string
	for _, in := range s[:min(n, len(s))] {
		parts = append(parts, fmt.Sprintf("%s %d", in.pkg, in.allocs))
	}
	return strings.Join(parts, ", ")
}
