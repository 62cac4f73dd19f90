//go:build unix

package kubetest

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/rest"
)

// startFirstAPIServer chooses the API server's port and flags and starts it.
// The port, and so URL and the default Issuer, stay the same across
// restarts.
func (c *Cluster) startFirstAPIServer(ctx context.Context, opts Options) error {
	var lastErr error
	base := c.apiArgs
	for attempt := 0; attempt < 3; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			return err
		}
		c.URL = "https://127.0.0.1:" + strconv.Itoa(ports[0])
		c.Issuer = opts.Issuer
		if c.Issuer == "" {
			c.Issuer = c.URL
		}
		c.apiArgs = append(append(append([]string(nil), base...), c.apiServerFlags(ports[0])...), opts.APIServerFlags...)
		if lastErr = c.StartAPIServer(ctx); lastErr == nil {
			return nil
		}
	}
	return lastErr
}

func (c *Cluster) apiServerFlags(port int) []string {
	return []string{
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + c.pki.servingCert,
		"--tls-private-key-file=" + c.pki.servingKey,
		"--client-ca-file=" + c.pki.caFile,
		// No other address is ever contacted: the "kubernetes" Service's
		// endpoints would name this loopback address, so the reconciler
		// that writes them is off (as in Kubernetes's own test server).
		"--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		// Service IPs are only allocated, never routed (no kube-proxy);
		// a documentation range (RFC 5737) makes that plain.
		"--service-cluster-ip-range=192.0.2.0/24",
		"--authorization-mode=Node,RBAC",
		"--anonymous-auth=true",
		"--service-account-issuer=" + c.Issuer,
		"--service-account-jwks-uri=" + c.URL + "/openid/v1/jwks",
		"--service-account-key-file=" + c.pki.saSigningKey,
		"--service-account-signing-key-file=" + c.pki.saSigningKey,
		"--profiling=false",
	}
}

// StartAPIServer starts the API server again after StopAPIServer, on the
// same port with the same flags and keys (tokens issued before stay valid),
// and waits until /readyz answers ok. Data lives in etcd and survives.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiserver != nil {
		return fmt.Errorf("kube-apiserver is already running")
	}
	p, err := startProcess("kube-apiserver", filepath.Join(c.dir, "kube-apiserver.log"), c.binaries.APIServer, c.apiArgs)
	if err != nil {
		return err
	}
	client, err := rest.HTTPClientFor(c.AdminConfig())
	if err != nil {
		p.stop(5 * time.Second)
		return fmt.Errorf("admin client: %w", err)
	}
	defer client.CloseIdleConnections()
	if err := waitReady(ctx, p, c.timeout, client, c.URL+"/readyz"); err != nil {
		p.stop(5 * time.Second)
		return fmt.Errorf("%w\n%s", err, p.logTail(30))
	}
	c.apiserver = p
	return nil
}

// StopAPIServer stops the API server (SIGTERM, then SIGKILL after 15
// seconds) and leaves etcd running. Clients, informers included, see
// connection errors until StartAPIServer.
func (c *Cluster) StopAPIServer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiserver == nil {
		return fmt.Errorf("kube-apiserver is not running")
	}
	c.apiserver.stop(15 * time.Second)
	c.apiserver = nil
	return nil
}

// RestartAPIServer is StopAPIServer followed by StartAPIServer.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	if err := c.StopAPIServer(); err != nil {
		return err
	}
	return c.StartAPIServer(ctx)
}

// PIDs returns the process ids of the running servers (etcd first), for
// tests of the harness's own clean-up.
func (c *Cluster) PIDs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := []int{c.etcd.pid()}
	if c.apiserver != nil {
		pids = append(pids, c.apiserver.pid())
	}
	return pids
}
