//go:build kubernetes

package cli

import (
	"path/filepath"
	"testing"
)

// TestMetadataServerKubernetesConfigErrors checks, in the build that has
// --kubernetes, the mistakes found before the API server is reached.
func TestMetadataServerKubernetesConfigErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no-kubeconfig")
	env := map[string]string{"NODE_NAME": "n1"}
	testKubernetesUsageErrors(t, []kubernetesUsageCase{
		{"provider not a provider", env, []string{"--kubernetes", "--project", "p", "--workload-identity-provider", "https://example.com", "--kubeconfig", missing}, []string{"--workload-identity-provider", "https://example.com", "is not a workload identity pool provider"}},
		{"missing kubeconfig", env, []string{"--kubernetes", "--project", "p", "--workload-identity-provider", testProvider, "--kubeconfig", missing}, []string{"kubeconfig", missing}},
	})
}
