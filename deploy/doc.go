// Package deploy holds gcptoken's Kubernetes manifests (a kustomize base
// with keyfile and workload-identity overlays, and a proxy-sidecar example)
// and, in its tests, what keeps them honest: each kustomization is rendered
// with kustomize's library and compared with its golden file under
// rendered/ (go test ./deploy -update rewrites them), validated with
// kubeconform against strict JSON schemas generated offline from the
// Kubernetes OpenAPI spec, and checked against the hardening every pod here
// promises. docs/kubernetes.md explains the manifests.
package deploy
