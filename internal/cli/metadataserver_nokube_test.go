//go:build !kubernetes

package cli

import "testing"

// TestMetadataServerKubernetesNotBuilt checks that the everyday build,
// which leaves client-go out, says how to get --kubernetes instead of
// failing obscurely, once the flags themselves are right.
func TestMetadataServerKubernetesNotBuilt(t *testing.T) {
	t.Parallel()
	testKubernetesUsageErrors(t, []kubernetesUsageCase{
		{"kubernetes in a build without it", map[string]string{"NODE_NAME": "n1"},
			[]string{"--kubernetes", "--project", "p", "--workload-identity-provider", testProvider},
			[]string{"--kubernetes: this gcptoken is built without Kubernetes support", "make image", "TAGS=kubernetes"}},
	})
}
