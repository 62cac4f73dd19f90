package kubeidentity

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"github.com/gcptoken/gcptoken/credentials"
)

// Annotations the Node reads.
const (
	// GoogleServiceAccountAnnotation on a ServiceAccount names the Google
	// service account its pods act as (GKE's annotation). Without it they
	// act as the federated principal of the ServiceAccount itself.
	GoogleServiceAccountAnnotation = "iam.gke.io/gcp-service-account"
	// HostNetworkAnnotation on the Node names, as NAMESPACE/NAME, the
	// ServiceAccount that callers with the node's addresses (the node and
	// its hostNetwork pods, which share them) act as.
	HostNetworkAnnotation = "gcptoken.io/host-network-service-account"
	// AllowHostNetworkAnnotation set to "true" on that ServiceAccount is
	// its consent: whoever may edit a Node (a node's kubelet may edit its
	// own) must not be able to lend its hostNetwork pods any account.
	AllowHostNetworkAnnotation = "gcptoken.io/allow-host-network"
)

// Token lifetimes.
const (
	// DefaultTokenLifetime is how long the service-account tokens asked
	// for last: the least the TokenRequest API grants. Each is only
	// exchanged at STS, once per Google token.
	DefaultTokenLifetime = 10 * time.Minute
	minTokenLifetime     = 10 * time.Minute
)

// Options configure NewNode.
type Options struct {
	// Config is the Kubernetes API client configuration (RESTConfig makes
	// one: in-cluster, or from a kubeconfig). Required.
	Config *rest.Config
	// NodeName is the node whose pods are served, as the downward API's
	// spec.nodeName gives it. Required.
	NodeName string
	// Audience is the workload identity pool provider that trusts the
	// cluster's service-account issuer,
	// //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER:
	// the audience of the service-account tokens and of the STS exchange.
	// Required.
	Audience string
	// ProjectID is the Google Cloud project; pods of a ServiceAccount
	// without GoogleServiceAccountAnnotation see PROJECT_ID.svc.id.goog as
	// their account's name, as on GKE. Required.
	ProjectID string
	// HostNetworkAddresses are more source addresses that mean the node
	// itself (besides the Node's InternalIP and ExternalIP addresses), such
	// as a bridge address that the node's own connections come from.
	// Optional.
	HostNetworkAddresses []netip.Addr
	// TokenLifetime is how long service-account tokens last. Optional;
	// default DefaultTokenLifetime, at least 10 minutes.
	TokenLifetime time.Duration
	// Credentials supplies the HTTP client and the environment of the
	// Google endpoints (GCPTOKEN_EMULATOR_HOST, GCPTOKEN_STS_ENDPOINT,
	// GCPTOKEN_IAM_ENDPOINT). Optional.
	Credentials *credentials.Options
	// Logger receives watch errors. Optional; default discards.
	Logger *slog.Logger
}

func (o *Options) validate() error {
	switch {
	case o.Config == nil:
		return errors.New("Options.Config is required")
	case o.NodeName == "":
		return errors.New("Options.NodeName is required: the node whose pods are served (the downward API's spec.nodeName)")
	case strings.ContainsAny(o.NodeName, "/, \t\n"):
		return fmt.Errorf("Options.NodeName %q is not a node name", o.NodeName)
	case CheckProvider(o.Audience) != nil:
		return fmt.Errorf("Options.Audience: %w", CheckProvider(o.Audience))
	case o.ProjectID == "" || strings.ContainsAny(o.ProjectID, "/ \t\n"):
		return fmt.Errorf("Options.ProjectID %q is not a project id", o.ProjectID)
	case o.TokenLifetime != 0 && o.TokenLifetime < minTokenLifetime:
		return fmt.Errorf("Options.TokenLifetime %s is shorter than the TokenRequest API's minimum, %s", o.TokenLifetime, minTokenLifetime)
	}
	return nil
}

// CheckProvider checks that audience is a workload identity pool
// provider's full resource name.
func CheckProvider(audience string) error {
	parts := strings.Split(strings.TrimPrefix(audience, "//iam.googleapis.com/"), "/")
	if !strings.HasPrefix(audience, "//iam.googleapis.com/projects/") || len(parts) != 8 || parts[2] != "locations" ||
		parts[4] != "workloadIdentityPools" || parts[6] != "providers" || slices.Contains(parts, "") || strings.ContainsAny(audience, " \t\n?#") {
		return fmt.Errorf("%q is not a workload identity pool provider: want //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER", audience)
	}
	return nil
}
