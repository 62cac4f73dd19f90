// Package kubeexec implements the client side of Kubernetes' exec
// credential plugin protocol (client.authentication.k8s.io v1 and v1beta1):
// kubectl, and every client-go program, runs the plugin with the
// KUBERNETES_EXEC_INFO environment variable describing the call and reads an
// ExecCredential JSON document carrying a bearer token from its stdout.
//
// [ParseExecInfo] reads KUBERNETES_EXEC_INFO, [Marshal] renders a token as
// an ExecCredential of the API version the caller asked for, and [Write]
// does both around a gcptoken.TokenProvider.
//
// Setting kubectl up to run a plugin lives here too: a [User] entry (its
// YAML for a user to paste), and the [Kubeconfig] interface that adds it to
// a kubeconfig, implemented by [KubectlConfig], which has kubectl itself
// edit a copy of the file and keeps a .bak, and by [FakeKubeconfig] for
// tests of code that configures kubectl.
//
// The wire structs are written out here instead of importing
// k8s.io/client-go: that module would add several megabytes and tens of
// packages to a binary whose start-up time is the point. Tests decode the
// output with client-go's own types to keep the two in step.
package kubeexec
