package kubeidentity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// Node serves one node's pods their identities: a
// metadataserver.PodLookup and metadataserver.IdentityResolver over
// informers. Run starts the informers; until they have synced, lookups
// fail (the server answers 503, which clients retry).
type Node struct {
	opts     Options
	log      *slog.Logger
	pods     cache.SharedIndexInformer // the node's pods, but hostNetwork ones
	accounts cache.SharedIndexInformer // every ServiceAccount
	nodes    cache.SharedIndexInformer // the Node object
	tokens   *tokenRequests

	mu         sync.Mutex
	watchError map[string]error // by resource, until its informer syncs again
}

// ipIndex indexes pods by each of their IPs.
const ipIndex = "ip"

// NewNode validates opts and sets up the informers; Run starts them.
func NewNode(opts *Options) (*Node, error) {
	if opts == nil {
		return nil, errors.New("kubeidentity: Options are required")
	}
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("kubeidentity: %w", err)
	}
	n := &Node{opts: *opts, log: opts.Logger, watchError: map[string]error{}}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.opts.TokenLifetime == 0 {
		n.opts.TokenLifetime = DefaultTokenLifetime
	}
	core, err := newCoreClient(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("kubeidentity: %w", err)
	}
	n.tokens = &tokenRequests{client: core, audience: opts.Audience, lifetime: n.opts.TokenLifetime}
	onNode := fields.AndSelectors(fields.OneTermEqualSelector("spec.nodeName", opts.NodeName),
		fields.OneTermEqualSelector("spec.hostNetwork", "false"))
	n.pods = n.informer(core, "pods", &corev1.Pod{}, func() runtime.Object { return &corev1.PodList{} },
		onNode, trimPod, cache.Indexers{ipIndex: podIPs})
	n.accounts = n.informer(core, "serviceaccounts", &corev1.ServiceAccount{}, func() runtime.Object { return &corev1.ServiceAccountList{} },
		fields.Everything(), trimServiceAccount, cache.Indexers{})
	n.nodes = n.informer(core, "nodes", &corev1.Node{}, func() runtime.Object { return &corev1.NodeList{} },
		fields.OneTermEqualSelector("metadata.name", opts.NodeName), trimNode, cache.Indexers{})
	return n, nil
}

// informer makes an informer of the objects of resource that selector
// picks, stored trimmed by trim, whose watch errors are remembered for
// lookups to report.
func (n *Node) informer(core *coreClient, resource string, example runtime.Object, newList func() runtime.Object,
	selector fields.Selector, trim cache.TransformFunc, indexers cache.Indexers) cache.SharedIndexInformer {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector.String()
			return core.list(ctx, resource, o, newList())
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector.String()
			return core.watch(ctx, resource, o)
		},
	}
	inf := cache.NewSharedIndexInformerWithOptions(lw, example, cache.SharedIndexInformerOptions{Indexers: indexers, ObjectDescription: resource})
	// Neither fails before Run.
	_ = inf.SetTransform(trim)
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		n.mu.Lock()
		n.watchError[resource] = err
		n.mu.Unlock()
		n.log.Warn("kubernetes watch failed; retrying", "resource", resource, "error", err.Error())
	})
	return inf
}

// Run runs the informers until ctx is done. A lost connection to the API
// server is retried with back-off; meanwhile lookups answer from what the
// informers last saw, and reconnected informers list again.
func (n *Node) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, inf := range []cache.SharedIndexInformer{n.pods, n.accounts, n.nodes} {
		wg.Go(func() { inf.RunWithContext(ctx) })
	}
	wg.Wait()
}

// WaitForSync waits until every informer has listed its objects once, or
// ctx is done; then it says which have not and why.
func (n *Node) WaitForSync(ctx context.Context) error {
	if cache.WaitForCacheSync(ctx.Done(), n.pods.HasSynced, n.accounts.HasSynced, n.nodes.HasSynced) {
		return nil
	}
	return fmt.Errorf("kubeidentity: %w", n.notSynced())
}

// notSynced returns the error of a lookup before every informer has
// synced, naming the last watch error of each that has not.
func (n *Node) notSynced() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for _, r := range []struct {
		name string
		inf  cache.SharedIndexInformer
	}{{"pods", n.pods}, {"serviceaccounts", n.accounts}, {"nodes", n.nodes}} {
		if r.inf.HasSynced() {
			continue
		}
		if err := n.watchError[r.name]; err != nil {
			errs = append(errs, fmt.Errorf("the %s watch has not synced: %w", r.name, err))
		} else {
			errs = append(errs, fmt.Errorf("the %s watch has not synced yet", r.name))
		}
	}
	return errors.Join(errs...)
}

func (n *Node) synced() bool {
	return n.pods.HasSynced() && n.accounts.HasSynced() && n.nodes.HasSynced()
}

// podIPs indexes a pod by each of its IPs, in their canonical form.
func podIPs(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Spec.HostNetwork {
		return nil, nil
	}
	var out []string
	for _, ip := range p.Status.PodIPs {
		if a, err := netip.ParseAddr(ip.IP); err == nil {
			out = append(out, a.Unmap().String())
		}
	}
	if a, err := netip.ParseAddr(p.Status.PodIP); err == nil {
		out = append(out, a.Unmap().String())
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// The informers keep only what lookups read: a Deployment's pod as the API
// server sends it (containers, volumes, conditions, container statuses,
// managed fields) takes about 12 KB decoded, the trimmed one under 2 KB
// with its index entries (docs/scale.md).

func trimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // a DeletedFinalStateUnknown tombstone
	}
	return &corev1.Pod{
		ObjectMeta: trimMeta(&p.ObjectMeta, nil),
		Spec:       corev1.PodSpec{ServiceAccountName: p.Spec.ServiceAccountName, NodeName: p.Spec.NodeName, HostNetwork: p.Spec.HostNetwork},
		Status:     corev1.PodStatus{Phase: p.Status.Phase, PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs},
	}, nil
}

func trimServiceAccount(obj any) (any, error) {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return obj, nil
	}
	return &corev1.ServiceAccount{ObjectMeta: trimMeta(&sa.ObjectMeta, []string{GoogleServiceAccountAnnotation, AllowHostNetworkAnnotation})}, nil
}

func trimNode(obj any) (any, error) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	return &corev1.Node{
		ObjectMeta: trimMeta(&node.ObjectMeta, []string{HostNetworkAnnotation}),
		Status:     corev1.NodeStatus{Addresses: node.Status.Addresses},
	}, nil
}

// trimMeta keeps the names, UID, resource version (which the informer
// needs), deletion time and the annotations named.
func trimMeta(m *metav1.ObjectMeta, annotations []string) metav1.ObjectMeta {
	out := metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		DeletionTimestamp: m.DeletionTimestamp,
	}
	for _, k := range annotations {
		if v, ok := m.Annotations[k]; ok {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[k] = v
		}
	}
	return out
}
