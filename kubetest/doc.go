// Package kubetest starts a real kube-apiserver and etcd for tests: the
// Kubernetes API, its authenticators (client certificates, service-account
// tokens) and its RBAC authorizer, without a fake client in between.
//
// Start builds both servers from source through the Go module proxy the
// first time a machine needs them (KubernetesVersion, EtcdVersion), caches
// the binaries under os.UserCacheDir()/gcptoken/kubetest/<name>-<version>/
// (or $KUBETEST_CACHE_DIR), and reuses them afterwards. A file lock per
// binary makes test binaries that start together wait for one build. A cold
// kube-apiserver build takes minutes; `go run ./cmd/kubetest-build` does it
// ahead of the tests.
//
// Every Start gets fresh keys and an empty etcd in t.TempDir(), loopback
// ports, and t.Cleanup that stops both servers (SIGTERM, then SIGKILL to the
// process group). On Linux the servers also die with the test binary. The
// package builds on Unix systems only.
//
// This module is separate from gcptoken's so that its tests' dependencies
// stay out of the root module; the servers' own dependencies
// (k8s.io/kubernetes, go.etcd.io/etcd) are resolved only in a throw-away
// build module and never appear in any go.mod of this repository.
package kubetest
