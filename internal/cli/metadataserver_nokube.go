//go:build !kubernetes

package cli

import (
	"net/netip"

	"github.com/gcptoken/gcptoken/metadataserver"
)

// newKubernetesNode refuses --kubernetes in a build without the
// kubernetes tag. client-go is left out of the everyday binary on purpose:
// it makes it half again as large and multiplies what every command
// initialises before it runs (docs/performance.md), for a mode that only
// the DaemonSet's image uses.
func newKubernetesNode(*App, *kubeFlags, string, []netip.Addr, *metadataserver.Options) (kubeNode, error) {
	return nil, usagef("--kubernetes: this gcptoken is built without Kubernetes support; use the container image " +
		"(make image) or build with `make install TAGS=kubernetes` (docs/kubernetes.md)")
}
