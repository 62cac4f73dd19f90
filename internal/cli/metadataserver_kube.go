package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gcptoken/gcptoken/metadataserver"
)

// kubeFlags are metadata-server's flags for per-pod identity from the
// Kubernetes API (--kubernetes).
type kubeFlags struct {
	enabled       bool
	kubeconfig    string
	nodeName      string
	provider      string
	hostNetwork   []string
	syncTimeout   time.Duration
	maxIdentities int
}

func (k *kubeFlags) bind(f *pflag.FlagSet) {
	f.BoolVar(&k.enabled, "kubernetes", false, "serve each pod of this Kubernetes node its own identity: its ServiceAccount's, through workload identity federation; in builds with the kubernetes tag, as the container image (docs/kubernetes.md)")
	f.StringVar(&k.kubeconfig, "kubeconfig", "", "with --kubernetes: kubeconfig `FILE` (default: in-cluster configuration, else $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&k.nodeName, "node-name", "", "with --kubernetes: the `NODE` whose pods are served (default $NODE_NAME, from the downward API's spec.nodeName)")
	f.StringVar(&k.provider, "workload-identity-provider", "", "with --kubernetes: the workload identity pool `PROVIDER` that trusts the cluster's service-account issuer, //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER")
	f.StringSliceVar(&k.hostNetwork, "host-network-address", nil, "with --kubernetes: more source `IP`s that mean the node itself (besides the Node's InternalIP and ExternalIP), e.g. the address a DNAT or a bridge gives the node's own connections")
	f.DurationVar(&k.syncTimeout, "kubernetes-sync-timeout", 2*time.Minute, "with --kubernetes: how long (`DURATION`) to wait for the first list of pods, ServiceAccounts and the Node before giving up")
	f.IntVar(&k.maxIdentities, "max-identities", 0, "with --kubernetes: `N` identities whose token caches are kept, the least recently used dropped beyond (default 1000)")
}

// checkKubernetesFlags refuses the flags that --kubernetes replaces, and
// --kubernetes' own without it.
func checkKubernetesFlags(cmd *cobra.Command, k *kubeFlags) error {
	f := cmd.Flags()
	if !k.enabled {
		for _, name := range []string{"kubeconfig", "node-name", "workload-identity-provider", "host-network-address", "kubernetes-sync-timeout", "max-identities"} {
			if f.Changed(name) {
				return usagef("--%s needs --kubernetes", name)
			}
		}
		return nil
	}
	for _, name := range []string{"credentials", "impersonate-service-account", "service-account-email", "access-boundary", "subject", "allow-client-audience"} {
		if f.Lookup(name) != nil && f.Changed(name) {
			return usagef("--%s cannot be used with --kubernetes: each pod gets its own ServiceAccount's identity, through workload identity federation", name)
		}
	}
	return nil
}

// kubeNode is what --kubernetes needs of the Kubernetes side: the pods of
// one node and their identities, from informers that run until ctx ends.
// newKubernetesNode makes it in builds with the kubernetes tag
// (metadataserver_kubenode.go); other builds say how to get one.
type kubeNode interface {
	metadataserver.PodLookup
	metadataserver.IdentityResolver
	Run(ctx context.Context)
	WaitForSync(ctx context.Context) error
}

// metadataServerKubernetesRun serves every pod of the node its own
// identity (kubeidentity.Node behind metadataserver.PodIdentityServer).
// It lists pods, ServiceAccounts and the Node before it listens, so that a
// server without the RBAC it needs says so and exits instead of answering
// 503 forever.
func metadataServerKubernetesRun(ctx context.Context, app *App, o *metadataServerOptions, opts *metadataserver.Options) error {
	k := &o.kube
	nodeName := firstNonEmpty(k.nodeName, app.Getenv("NODE_NAME"))
	switch {
	case k.provider == "":
		return usagef("--kubernetes needs --workload-identity-provider: the pool provider that trusts this cluster's service-account issuer (docs/kubernetes.md)")
	case nodeName == "":
		return usagef("--kubernetes needs --node-name or $NODE_NAME (the downward API's spec.nodeName)")
	case opts.ProjectID == "":
		return usagef("--kubernetes needs --project or $GOOGLE_CLOUD_PROJECT")
	}
	var hostAddrs []netip.Addr
	for _, s := range k.hostNetwork {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return usagef("--host-network-address %q is not an IP address", s)
		}
		hostAddrs = append(hostAddrs, a.Unmap())
	}
	node, err := newKubernetesNode(app, k, nodeName, hostAddrs, opts)
	if err != nil {
		return err
	}
	srv, err := metadataserver.NewPodIdentityServer(&metadataserver.PodIdentityOptions{
		Pods: node, Resolver: node, Server: *opts, MaxIdentities: k.maxIdentities,
	})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	go func() { node.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()
	syncCtx, cancel := context.WithTimeout(ctx, k.syncTimeout)
	defer cancel()
	if err := node.WaitForSync(syncCtx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("metadata-server --kubernetes: %w (see deploy/overlays/kubernetes/rbac.yaml for the permissions it needs)", err)
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("metadata-server: listen on %s: %w", o.listen, err)
	}
	fmt.Fprintf(app.Out, "Metadata server for the pods of Kubernetes node %s (project %s; each pod its ServiceAccount's identity through %s) listening on http://%s\n",
		nodeName, opts.ProjectID, k.provider, ln.Addr())
	fmt.Fprintf(app.Out, "Health: http://%s/healthz  Metrics: http://%s/metrics\n", ln.Addr(), ln.Addr())
	if err := srv.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("metadata-server: %w", err)
	}
	fmt.Fprintln(app.Out, "Stopped.")
	return nil
}
