// Command benchcli measures what gcptoken's short-lived commands cost as
// whole processes, each against a floor measured in the same loop: `make
// bench-cli`.
//
// It builds the real binary as released (CGO_ENABLED=0, -trimpath,
// -ldflags "-s -w") and two floors the same way: floor, a Go program that
// reads one file (the command's token cache entry) and prints it, and
// floorhttp, which reads one file (the key file), POSTs it to a loopback
// URL and prints the answer. It starts a fake Google (package fakegoogle)
// on loopback, points a private environment at it (its own HOME, cache
// directory and key file; nothing of the user's), and warms the token
// cache. Then, for each command, it runs the command and its floor n
// times each, alternating, and prints the medians and 90th percentiles of
// the wall times, their ratio, and each process's CPU time and minor page
// faults (median):
//
//   - cached print-access-token and print-identity-token, git-credential
//     get, docker-credential get and kubectl-credential, against floor;
//   - uncached print-access-token (--no-cache: one token request to the
//     fake), against floorhttp, with the time the fake itself took.
//
// The goal, reported and not enforced, is a cached command within 1.6× its
// floor. Ratios hold better than absolute times on a busy machine;
// docs/performance.md has the figures.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// goal is the ratio a cached command should stay within.
const goal = 1.6

func main() {
	n := flag.Int("n", 100, "runs of each command and of its floor")
	only := flag.String("run", "", "measure only the commands whose name matches this `REGEXP`")
	hold := flag.Bool("hold", false, "then print the environment and the commands, and keep the fake running until interrupted, for cross-checks with other tools (hyperfine)")
	flag.Parse()
	if err := run(*n, *only, *hold, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchcli:", err)
		os.Exit(1)
	}
}

func run(n int, only string, hold bool, w io.Writer) error {
	if n < 1 {
		return fmt.Errorf("-n %d: want at least 1 run", n)
	}
	filter, err := regexp.Compile(only)
	if err != nil {
		return fmt.Errorf("-run: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	root, err := repoRoot(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "building gcptoken and the floors (CGO_ENABLED=0 go build %s)…\n", strings.Join(quoteArgs(buildFlags), " "))
	b, err := Setup(ctx, root)
	if err != nil {
		return err
	}
	defer b.Close()
	loadBefore := loadAverage()
	var results []*Result
	for _, c := range b.Cases() {
		if !filter.MatchString(c.Name) {
			continue
		}
		r, err := b.Measure(ctx, c, n)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	fmt.Fprintf(w, "\n%s\nload average %s before, %s after; %d runs each, alternating with the floor\n\n",
		machine(ctx, b), loadBefore, loadAverage(), n)
	report(w, results)
	if hold {
		b.describe(w)
		<-ctx.Done()
	}
	return nil
}

// report prints one line per command.
func report(w io.Writer, results []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "command\tmedian\tp90\tfloor median\tfloor p90\tratio\tCPU\tfloor CPU\tfaults\tfloor faults\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.2f×\t%s\t%s\t%d\t%d\t\n", r.Case.Name,
			ms(median(walls(r.Gcptoken))), ms(p90(walls(r.Gcptoken))),
			ms(median(walls(r.Floor))), ms(p90(walls(r.Floor))), r.Ratio(),
			ms(median(cpus(r.Gcptoken))), ms(median(cpus(r.Floor))),
			median(faults(r.Gcptoken)), median(faults(r.Floor)))
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range results {
		switch {
		case r.Case.Uncached:
			fmt.Fprintf(w, "%s: the fake's handler took %s per token request (median), inside gcptoken's time; the floor's answer is canned\n",
				r.Case.Name, ms(median(r.FakeTime)))
		case r.Ratio() <= goal:
			fmt.Fprintf(w, "%s: within the goal (%.1f× the floor)\n", r.Case.Name, goal)
		default:
			fmt.Fprintf(w, "%s: over the goal (%.1f× the floor)\n", r.Case.Name, goal)
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsRune(a, ' ') {
			a = `"` + a + `"`
		}
		out[i] = a
	}
	return out
}

// repoRoot is the directory of the go.work the go command finds from here:
// benchcli builds the repository's packages by path.
func repoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOWORK").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOWORK: %v", err)
	}
	work := strings.TrimSpace(string(out))
	if work == "" || work == "off" {
		return "", fmt.Errorf("run benchcli inside the gcptoken repository, with its go.work (GOWORK is %q)", work)
	}
	return strings.TrimSuffix(work, "go.work"), nil
}

// machine describes where the figures come from: CPUs, CPU model, Go
// version and the binaries' sizes.
func machine(ctx context.Context, b *Bench) string {
	model := runtime.GOARCH
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimLeft(name, " \t:"))
				break
			}
		}
	}
	goVersion, _ := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	return fmt.Sprintf("%d CPUs (%s), %s %s/%s; binaries: gcptoken %s, floor %s, floorhttp %s",
		runtime.NumCPU(), model, bytes.TrimSpace(goVersion), runtime.GOOS, runtime.GOARCH,
		size(b.gcptoken), size(b.floor), size(b.floorHTTP))
}

func size(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.1f MB", float64(fi.Size())/1e6)
}

// loadAverage is the 1-, 5- and 15-minute load average, where the system
// says (Linux's /proc/loadavg).
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
