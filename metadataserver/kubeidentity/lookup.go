package kubeidentity

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/gcptoken/gcptoken/metadataserver"
)

// errAmbiguous is a lookup of an address that more than one live pod
// claims. It is not ErrPodNotFound: the server answers 503, which clients
// retry, and by then the watch has usually seen the old pod go.
var errAmbiguous = errors.New("several live pods claim the address")

// PodByIP implements metadataserver.PodLookup from the informers' memory.
//
// Only a Pending or Running pod owns its address: a pod that has
// Succeeded or Failed has released it, and the CNI may have given it to a
// new pod. Two live pods with one address mean the watch has not yet seen
// one of them end (an IP reused within the watch's delay); the lookup then
// refuses both rather than guess, so a new pod never gets the identity of
// the pod that had its address before. The returned Pod carries the UID,
// which the identity is keyed with.
//
// An address of the node itself (its InternalIP and ExternalIP, and
// Options.HostNetworkAddresses) is the node or a hostNetwork pod: the
// caller acts as the ServiceAccount the Node's HostNetworkAnnotation
// names (Pod.HostNetwork set), or is refused.
//
// An answer that the watch may yet change (not synced, no pod, two pods)
// is retried until ctx is done: a new pod's containers may start before
// the kubelet's status write with its IP reaches the watch, and Google's
// clients give up on the metadata server for good if their first request
// fails (Python's detection does). metadataserver.PodIdentityOptions'
// LookupTimeout bounds the wait; other callers must give ctx a deadline.
func (n *Node) PodByIP(ctx context.Context, ip netip.Addr) (metadataserver.Pod, error) {
	return untilSettled(ctx, func() (metadataserver.Pod, bool, error) { return n.lookup(ip.Unmap()) })
}

// lookup is one PodByIP attempt; settled reports whether the answer is
// final.
func (n *Node) lookup(ip netip.Addr) (_ metadataserver.Pod, settled bool, _ error) {
	if !n.synced() {
		return metadataserver.Pod{}, false, n.notSynced()
	}
	objs, err := n.pods.GetIndexer().ByIndex(ipIndex, ip.String())
	if err != nil {
		return metadataserver.Pod{}, true, err
	}
	var live, ended []*corev1.Pod
	for _, obj := range objs {
		p := obj.(*corev1.Pod)
		switch p.Status.Phase {
		case corev1.PodPending, corev1.PodRunning:
			live = append(live, p)
		default:
			ended = append(ended, p)
		}
	}
	switch len(live) {
	case 1:
		p := live[0]
		return metadataserver.Pod{Namespace: p.Namespace, Name: p.Name, ServiceAccount: serviceAccountOf(p), UID: string(p.UID)}, true, nil
	case 0:
	default:
		return metadataserver.Pod{}, false, fmt.Errorf("%w %s: %s (an IP reused before the watch saw its old pod end; try again)", errAmbiguous, ip, podNames(live))
	}
	if node, ok := n.node(); ok && n.isNodeAddress(node, ip) {
		pod, err := n.hostNetworkPod(node)
		return pod, true, err
	}
	if len(ended) > 0 {
		return metadataserver.Pod{}, false, fmt.Errorf("%w: no live pod on node %s has the address %s (%s ended and released it)",
			metadataserver.ErrPodNotFound, n.opts.NodeName, ip, podNames(ended))
	}
	return metadataserver.Pod{}, false, fmt.Errorf("%w: no pod on node %s has the address %s", metadataserver.ErrPodNotFound, n.opts.NodeName, ip)
}

// settlePoll is how often an unsettled answer is looked at again.
const settlePoll = 20 * time.Millisecond

// untilSettled calls attempt until its answer is settled or ctx is done,
// and returns the last answer. ctx must have a deadline, or an answer that
// never settles is waited for forever.
func untilSettled[T any](ctx context.Context, attempt func() (T, bool, error)) (T, error) {
	for {
		v, settled, err := attempt()
		if settled {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(settlePoll):
		}
	}
}

// serviceAccountOf is the pod's ServiceAccount; the API server sets
// "default" when a pod names none.
func serviceAccountOf(p *corev1.Pod) string {
	if p.Spec.ServiceAccountName == "" {
		return "default"
	}
	return p.Spec.ServiceAccountName
}

func podNames(pods []*corev1.Pod) string {
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = fmt.Sprintf("pod %s/%s (%s)", p.Namespace, p.Name, p.Status.Phase)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// node returns the Node object, once the informer has seen it.
func (n *Node) node() (*corev1.Node, bool) {
	obj, ok, err := n.nodes.GetStore().GetByKey(n.opts.NodeName)
	if err != nil || !ok {
		return nil, false
	}
	return obj.(*corev1.Node), true
}

// isNodeAddress reports whether ip is one of the node's own addresses.
func (n *Node) isNodeAddress(node *corev1.Node, ip netip.Addr) bool {
	if slices.Contains(n.opts.HostNetworkAddresses, ip) {
		return true
	}
	for _, a := range node.Status.Addresses {
		if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeExternalIP {
			continue
		}
		if addr, err := netip.ParseAddr(a.Address); err == nil && addr.Unmap() == ip {
			return true
		}
	}
	return false
}

// hostNetworkPod is the caller with the node's address: the
// ServiceAccount the Node's annotation names. Its consent is checked by
// Identity, which reads ServiceAccounts.
func (n *Node) hostNetworkPod(node *corev1.Node) (metadataserver.Pod, error) {
	ref, ok := node.Annotations[HostNetworkAnnotation]
	if !ok {
		return metadataserver.Pod{}, fmt.Errorf("%w: the address is node %s's own (the node, or a hostNetwork pod), and the node has no %s annotation naming a service account for them",
			metadataserver.ErrPodNotFound, node.Name, HostNetworkAnnotation)
	}
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return metadataserver.Pod{}, fmt.Errorf("%w: node %s's annotation %s=%q is not NAMESPACE/NAME",
			metadataserver.ErrPodNotFound, node.Name, HostNetworkAnnotation, ref)
	}
	return metadataserver.Pod{Namespace: ns, Name: "node/" + node.Name, ServiceAccount: name, UID: string(node.UID), HostNetwork: true}, nil
}
