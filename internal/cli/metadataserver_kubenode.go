//go:build kubernetes

package cli

import (
	"net/netip"

	"k8s.io/klog/v2"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/metadataserver"
	"github.com/gcptoken/gcptoken/metadataserver/kubeidentity"
)

// newKubernetesNode connects to the API server k names and watches the
// pods, ServiceAccounts and Node of nodeName (kubeidentity.Node).
func newKubernetesNode(app *App, k *kubeFlags, nodeName string, hostAddrs []netip.Addr, opts *metadataserver.Options) (kubeNode, error) {
	if err := kubeidentity.CheckProvider(k.provider); err != nil {
		return nil, usagef("--workload-identity-provider: %v", err)
	}
	klog.SetSlogLogger(opts.Logger) // client-go's own messages, in the server's log format
	cfg, err := kubeidentity.RESTConfig(k.kubeconfig)
	if err != nil {
		return nil, usagef("--kubernetes: %v", err)
	}
	node, err := kubeidentity.NewNode(&kubeidentity.Options{
		Config: cfg, NodeName: nodeName, Audience: k.provider, ProjectID: opts.ProjectID,
		HostNetworkAddresses: hostAddrs, Logger: opts.Logger,
		Credentials: &credentials.Options{Getenv: app.Getenv, HTTPClient: app.HTTPClient},
	})
	if err != nil {
		return nil, usagef("--kubernetes: %v", err)
	}
	return node, nil
}
