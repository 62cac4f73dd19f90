//go:build unix

package kubetest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// AdminUser is the user name of Cluster.AdminConfig's client certificate.
// It is in group system:masters, which every authorizer allows everything.
const AdminUser = "kubetest-admin"

// Options configure Start.
type Options struct {
	// Issuer is Optional: the service-account token issuer
	// (--service-account-issuer). Default: the API server's own URL
	// (https://127.0.0.1:PORT), so that OIDC discovery at
	// Issuer+"/.well-known/openid-configuration" works as an outside
	// verifier such as Google's STS would do it.
	Issuer string
	// APIServerFlags are Optional extra kube-apiserver flags
	// ("--name=value"); a flag given here overrides the harness's value.
	APIServerFlags []string
	// Build is Optional: where binaries are cached. The default cache
	// builds them once per machine.
	Build BuildOptions
	// StartTimeout is Optional: how long each server may take to become
	// ready. Default 2 minutes (two shared cores under a parallel test run).
	StartTimeout time.Duration
}

// Cluster is a running etcd and kube-apiserver pair. Everything it starts
// is stopped by the test's cleanup.
type Cluster struct {
	// URL is the API server's base URL, https://127.0.0.1:PORT.
	URL string
	// Issuer is the service-account token issuer (the "iss" claim).
	Issuer string
	// CAData is the PEM CA certificate that signed the API server's
	// serving certificate.
	CAData []byte

	dir       string
	pki       *pki
	binaries  Binaries
	apiArgs   []string
	timeout   time.Duration
	etcd      *process
	mu        sync.Mutex // guards apiserver
	apiserver *process
}

// Start builds or reuses the binaries, starts etcd and kube-apiserver on
// loopback ports with data in t.TempDir(), waits until /readyz answers ok,
// and registers their shutdown with t.Cleanup. It fails the test on error.
//
// The cluster runs no controller manager, scheduler or kubelet: a namespace
// has no "default" ServiceAccount until the test creates one, and a pod
// stays Pending until the test writes its status (status subresource).
// Issuer discovery (/.well-known/openid-configuration, /openid/v1/jwks) is
// open to anonymous clients, as on a cluster whose issuer an outside
// verifier trusts.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c, err := start(t, opts)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return c
}

func start(t testing.TB, opts Options) (*Cluster, error) {
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	if opts.Build.Logf == nil {
		opts.Build.Logf = t.Logf
	}
	ctx := context.Background()
	if deadline, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := deadline.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, d)
			defer cancel()
		}
	}
	binaries, err := EnsureBinaries(ctx, opts.Build)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: t.TempDir(), binaries: binaries, timeout: opts.StartTimeout}
	if c.pki, err = newPKI(c.dir); err != nil {
		return nil, err
	}
	c.CAData = c.pki.caPEM
	t.Cleanup(func() { c.stop(t) })
	if err := c.startEtcd(ctx); err != nil {
		return nil, err
	}
	if err := c.startFirstAPIServer(ctx, opts); err != nil {
		return nil, err
	}
	if err := c.openIssuerDiscovery(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// stop ends both servers; on a failed test it logs the end of their logs.
func (c *Cluster) stop(t testing.TB) {
	c.mu.Lock()
	apiserver := c.apiserver
	c.apiserver = nil
	c.mu.Unlock()
	for _, p := range []*process{apiserver, c.etcd} {
		if p == nil {
			continue
		}
		if t.Failed() { // before stop adds its shutdown messages
			t.Logf("kubetest: last lines of the %s log (%s):\n%s", p.name, p.logPath, p.logTail(40))
		}
		p.stop(15 * time.Second)
	}
}

// startEtcd starts a single-member etcd on two free loopback ports and waits
// for /health. A port taken between choosing and binding it makes etcd
// exit; then it is tried again on new ports.
func (c *Cluster) startEtcd(ctx context.Context) error {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			return err
		}
		clientURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
		peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
		args := []string{
			"--name=kubetest",
			"--data-dir=" + filepath.Join(c.dir, "etcd-data"),
			"--listen-client-urls=" + clientURL,
			"--advertise-client-urls=" + clientURL,
			"--listen-peer-urls=" + peerURL,
			"--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=kubetest=" + peerURL,
			"--log-level=warn",
			// Test data need not survive a power cut; fsync would make
			// every write wait on the shared disk.
			"--unsafe-no-fsync",
		}
		p, err := startProcess("etcd", filepath.Join(c.dir, "etcd.log"), c.binaries.Etcd, args)
		if err != nil {
			return err
		}
		err = waitReady(ctx, p, c.timeout, http.DefaultClient, clientURL+"/health")
		if err == nil {
			c.etcd = p
			c.apiArgs = append(c.apiArgs, "--etcd-servers="+clientURL)
			return nil
		}
		p.stop(5 * time.Second)
		lastErr = fmt.Errorf("%w\n%s", err, p.logTail(20))
	}
	return lastErr
}

// freePorts returns n distinct loopback TCP ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free loopback port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitReady polls url until it answers 200, the process exits, or timeout.
func waitReady(ctx context.Context, p *process, timeout time.Duration, client *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		if err := p.exitError(); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s after %s (last answer: %s)", p.name, url, timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// AdminConfig returns a new client configuration for the superuser
// (AdminUser, group system:masters), authenticated by client certificate.
func (c *Cluster) AdminConfig() *rest.Config {
	cfg := c.AnonymousConfig()
	cfg.CertData = c.pki.adminCertPEM
	cfg.KeyData = c.pki.adminKeyPEM
	return cfg
}

// AnonymousConfig returns a new client configuration with no credentials:
// requests are made as system:anonymous.
func (c *Cluster) AnonymousConfig() *rest.Config {
	return &rest.Config{
		Host:            c.URL,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CAData},
		QPS:             -1, // no client-side rate limit in tests
	}
}

// ServiceAccountConfig returns a new client configuration that
// authenticates as the ServiceAccount namespace/name with a bound token from
// the TokenRequest API (audience: the API server's, lifetime: one hour).
// Its requests go through the real authorizer, so RBAC decides them.
func (c *Cluster) ServiceAccountConfig(ctx context.Context, namespace, name string) (*rest.Config, error) {
	client, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		return nil, err
	}
	lifetime := int64(3600)
	tr, err := client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &lifetime},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token request for service account %s/%s: %w", namespace, name, err)
	}
	cfg := c.AnonymousConfig()
	cfg.BearerToken = tr.Status.Token
	return cfg, nil
}

// openIssuerDiscovery lets unauthenticated clients read the issuer's
// discovery document and keys, as `kubectl create clusterrolebinding
// oidc-reviewer --clusterrole=system:service-account-issuer-discovery
// --group=system:unauthenticated` does on clusters whose tokens an outside
// party (Google's STS) verifies. Kubernetes binds that role only to
// authenticated service accounts by default.
func (c *Cluster) openIssuerDiscovery(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		return err
	}
	_, err = client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kubetest:service-account-issuer-discovery"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:service-account-issuer-discovery"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:unauthenticated"}},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("open issuer discovery to anonymous clients: %w", err)
	}
	return nil
}
