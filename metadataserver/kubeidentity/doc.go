// Package kubeidentity gives the pods of a Kubernetes node the Google
// identities of their Kubernetes service accounts through workload
// identity federation, on any cluster: what GKE's metadata server does
// under Workload Identity Federation for GKE, for clusters whose
// service-account issuer a workload identity pool provider trusts.
//
// A Node is both halves that metadataserver.PodIdentityServer asks for:
//
//   - its PodLookup (PodByIP) answers from client-go informers: the node's
//     pods (spec.nodeName, hostNetwork pods excluded) indexed by IP, the
//     cluster's ServiceAccounts, and the Node object itself, each trimmed
//     to the fields used so that memory stays small (docs/scale.md). A
//     pod counts while it is Pending or Running; an address that two such
//     pods claim (a reused IP whose old pod the watch has not yet seen go)
//     is refused rather than guessed. Callers with one of the node's
//     addresses (the node, hostNetwork pods) act as the ServiceAccount the
//     Node's gcptoken.io/host-network-service-account annotation names, if
//     that ServiceAccount consents with gcptoken.io/allow-host-network.
//   - its IdentityResolver (Identity) maps a pod to its ServiceAccount: a
//     TokenRequest for that ServiceAccount with the provider as audience,
//     exchanged at Google's STS (credentials.NewFederated), then either
//     used as it is (the federated principal
//     principal://…/subject/system:serviceaccount:NAMESPACE:NAME) or, when
//     the ServiceAccount has the iam.gke.io/gcp-service-account annotation,
//     used to impersonate that Google service account, which is also how
//     ID tokens are made.
//
// Each identity (ServiceAccount, its UID and its annotation) gets one
// metadataserver.Server, so its tokens are cached, refreshed early with
// jitter and shared by all its pods.
//
// The server needs to list and watch pods, ServiceAccounts and Nodes, and
// to create serviceaccounts/token (deploy/overlays/kubernetes has the
// ClusterRole). It is a module of its own so that client-go stays out of
// the library's module graph.
package kubeidentity
