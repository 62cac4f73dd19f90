//go:build unix

package kubeidentity_test

import (
	"bufio"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/kubetest"
)

// TestCLIKubernetes runs `gcptoken metadata-server --kubernetes` as the
// DaemonSet would, with a kubeconfig of the overlay's ServiceAccount and
// the emulator's endpoints, and Google's clients as pods: the command
// wires the flags to the same Node the other tests drive. It also checks
// that a server whose RBAC is missing says so and exits.
func TestCLIKubernetes(t *testing.T) {
	w := newWorld(t)
	bin := buildGcptoken(t)
	w.runPod(t, "web-1", "web", ipWeb)
	w.runPod(t, "batch-1", "batch", ipBatch)

	cfg, err := w.c.ServiceAccountConfig(t.Context(), serverNS, serverSA)
	must(t, err)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	must(t, kubetest.WriteKubeconfig(kubeconfig, cfg))
	addr := startCLI(t, bin, w, kubeconfig)
	eachPeer(t, addr, ipWeb, audienceURL, func(t *testing.T, r podResult) {
		if r.Error != "" || r.Email != w.gsa || idClaims(t, r.IDToken)["email"] != w.gsa {
			t.Fatalf("pod web-1 through the CLI: email %q, error %q, ID token error %q; want %s", r.Email, r.Error, r.IDTokenError, w.gsa)
		}
	})
	eachPeer(t, addr, ipBatch, "", func(t *testing.T, r podResult) {
		if r.Error != "" || w.tokenInfo(t, r.Token) != w.principal("batch") {
			t.Fatalf("pod batch-1 through the CLI: error %q; want %s's token", r.Error, w.principal("batch"))
		}
	})

	// In the cluster, as the DaemonSet runs it: no --kubeconfig.
	inCluster := startInClusterCLI(t, bin, w, cfg)
	eachPeer(t, inCluster, ipBatch, "", func(t *testing.T, r podResult) {
		if r.Error != "" || w.tokenInfo(t, r.Token) != w.principal("batch") {
			t.Fatalf("pod batch-1 through the in-cluster server: error %q; want %s's token", r.Error, w.principal("batch"))
		}
	})

	// Without RBAC: a clear error and exit status 1, not a server that
	// answers 503 forever.
	_, err = w.admin.CoreV1().ServiceAccounts(serverNS).Create(t.Context(), serviceAccountObject("no-rbac"), metav1CreateOptions)
	must(t, err)
	noRBAC, err := w.c.ServiceAccountConfig(t.Context(), serverNS, "no-rbac")
	must(t, err)
	kubeconfig2 := filepath.Join(t.TempDir(), "kubeconfig")
	must(t, kubetest.WriteKubeconfig(kubeconfig2, noRBAC))
	out, code := runCLI(t, bin, w, kubeconfig2, "--kubernetes-sync-timeout=3s")
	if code != 1 || !strings.Contains(out, "forbidden") || !strings.Contains(out, "rbac.yaml") {
		t.Errorf("metadata-server --kubernetes without RBAC: exit %d, output %q; want 1 and the Forbidden, pointing at the RBAC", code, out)
	}
}

// buildGcptoken builds the gcptoken command from this workspace, with the
// kubernetes tag, as the container image has it.
func buildGcptoken(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gcptoken")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-tags", "kubernetes", "-o", bin, "./cmd/gcptoken")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags kubernetes ./cmd/gcptoken: %v\n%s", err, out)
	}
	return bin
}

// cliEnv is the DaemonSet's environment: the downward API's node name and
// the project, and the emulator standing in for Google.
func cliEnv(t *testing.T, w *world) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"NODE_NAME=" + nodeName, "GOOGLE_CLOUD_PROJECT=" + fakegoogle.DefaultProjectID,
		"GCPTOKEN_EMULATOR_HOST=" + strings.TrimPrefix(w.fake.URL, "http://"),
	}
}

// cliArgs is the DaemonSet's command line, with --kubeconfig unless it is
// "" (in-cluster configuration).
func cliArgs(w *world, kubeconfig string, extra ...string) []string {
	args := []string{"metadata-server", "--kubernetes", "--listen", "127.0.0.1:0", "--workload-identity-provider", w.provider.Audience()}
	if kubeconfig != "" {
		args = append(args, "--kubeconfig", kubeconfig)
	}
	return append(args, extra...)
}

var listening = regexp.MustCompile(`listening on http://(127\.0\.0\.1:\d+)`)

// startCLI starts the server and returns its address from its banner.
func startCLI(t *testing.T, bin string, w *world, kubeconfig string) string {
	t.Helper()
	cmd := exec.Command(bin, cliArgs(w, kubeconfig)...)
	cmd.Env = cliEnv(t, w)
	return serveCLI(t, cmd)
}

// startInClusterCLI starts the server without --kubeconfig, so that
// client-go takes its in-cluster configuration, as in the DaemonSet's pod:
// KUBERNETES_SERVICE_HOST and _PORT, and the ServiceAccount's token, CA
// and namespace mounted at /var/run/secrets/kubernetes.io/serviceaccount.
// That path is fixed, so the server runs in a mount namespace of its own
// (unshare) with a tmpfs over /run that holds them: nothing of the
// machine's /run is touched or seen by anyone else.
func startInClusterCLI(t *testing.T, bin string, w *world, cfg *rest.Config) string {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the in-cluster run needs root and unshare (util-linux): %v", err)
		}
		t.Skip("the in-cluster run needs root and unshare (util-linux)")
	}
	u, err := url.Parse(cfg.Host)
	must(t, err)
	mounted := t.TempDir()
	must(t, os.WriteFile(filepath.Join(mounted, "token"), []byte(cfg.BearerToken), 0o600))
	must(t, os.WriteFile(filepath.Join(mounted, "ca.crt"), cfg.CAData, 0o600))
	must(t, os.WriteFile(filepath.Join(mounted, "namespace"), []byte(serverNS), 0o600))
	const mount = `set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/secrets/kubernetes.io/serviceaccount
cp "$MOUNTED"/token "$MOUNTED"/ca.crt "$MOUNTED"/namespace /run/secrets/kubernetes.io/serviceaccount/
exec "$@"`
	cmd := exec.Command(unshare, append([]string{"--mount", "--propagation", "private", "sh", "-c", mount, "sh", bin}, cliArgs(w, "")...)...)
	cmd.Env = append(cliEnv(t, w), "MOUNTED="+mounted, "KUBERNETES_SERVICE_HOST="+u.Hostname(), "KUBERNETES_SERVICE_PORT="+u.Port())
	return serveCLI(t, cmd)
}

// serveCLI starts cmd, a metadata server, and returns its address from its
// banner; a server that exits first fails the test at once.
func serveCLI(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("gcptoken's log:\n%s", stderr.String())
		}
	})
	found, ended := make(chan string, 1), make(chan struct{})
	go func() {
		defer close(ended)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if m := listening.FindStringSubmatch(s.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case addr := <-found:
		return addr
	case <-ended:
		t.Fatal("gcptoken metadata-server --kubernetes exited before it listened (its log follows)")
		return ""
	case <-time.After(2 * time.Minute):
		t.Fatalf("gcptoken metadata-server --kubernetes did not start listening; log:\n%s", stderr.String())
		return ""
	}
}

// runCLI runs the server to its end and returns its output and exit code.
func runCLI(t *testing.T, bin string, w *world, kubeconfig string, extra ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, cliArgs(w, kubeconfig, extra...)...)
	cmd.Env = cliEnv(t, w)
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); ok {
		return string(out), exit.ExitCode()
	}
	must(t, err)
	return string(out), 0
}
