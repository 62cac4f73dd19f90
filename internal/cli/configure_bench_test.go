package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/credhelper/dockercred"
	"github.com/gcptoken/gcptoken/fakegoogle"
)

// BenchmarkHelperProcess measures a cached credential-helper call as a whole
// process, the way kubectl, docker and git run it, against a cached
// `gcptoken print-access-token` in the same run: the commands take turns in
// every iteration, so machine load hits them alike. It reports each
// command's median wall time and its ratio to print-access-token (the goal:
// at most 1.2).
//
//	go test -run '^$' -bench HelperProcess -benchtime 200x ./internal/cli/
func BenchmarkHelperProcess(b *testing.B) {
	f, err := fakegoogle.Start("127.0.0.1:0", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	home := b.TempDir()
	key, err := f.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		b.Fatal(err)
	}
	keyPath := filepath.Join(home, "sa.json")
	if err := os.WriteFile(keyPath, key, 0o600); err != nil {
		b.Fatal(err)
	}
	envv := processEnv(env{
		"HOME":                           home,
		"GCPTOKEN_CACHE_DIR":             filepath.Join(home, "cache"),
		"GOOGLE_APPLICATION_CREDENTIALS": keyPath,
		"KUBERNETES_EXEC_INFO":           `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`,
	})
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	link := filepath.Join(b.TempDir(), dockercred.HelperProgram)
	if err := os.Symlink(exe, link); err != nil {
		b.Fatal(err)
	}
	cmds := []struct {
		name  string
		argv  []string
		stdin string
	}{
		{"print-access-token", []string{exe, "print-access-token"}, ""},
		{"kubectl-credential", []string{exe, "kubectl-credential"}, ""},
		{"docker-get", []string{link, "get"}, "us-docker.pkg.dev"},
		{"git-get", []string{exe, "git-credential", "get"}, "protocol=https\nhost=source.developers.google.com\n\n"},
	}
	runOnce := func(i int) time.Duration {
		c := exec.Command(cmds[i].argv[0], cmds[i].argv[1:]...)
		c.Env = envv
		c.Stdin = strings.NewReader(cmds[i].stdin)
		start := time.Now()
		out, err := c.Output()
		d := time.Since(start)
		if err != nil || !strings.Contains(string(out), "ya29.") {
			b.Fatalf("%s: %v, output %q", cmds[i].name, err, out)
		}
		return d
	}
	// Warm the disk cache and the page cache.
	for range 3 {
		for i := range cmds {
			runOnce(i)
		}
	}
	times := make([][]time.Duration, len(cmds))
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for k := range cmds {
			i := (k + n) % len(cmds) // rotate the order
			times[i] = append(times[i], runOnce(i))
		}
	}
	b.StopTimer()
	if got := f.RequestCount("/token"); got != 1 {
		b.Errorf("%d token requests; want 1 (every call after the first from the cache)", got)
	}
	base := median(times[0])
	for i, c := range cmds {
		m := median(times[i])
		b.ReportMetric(float64(m.Microseconds())/1000, c.name+"-ms")
		if i > 0 {
			b.ReportMetric(float64(m)/float64(base), c.name+"/print")
		}
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
