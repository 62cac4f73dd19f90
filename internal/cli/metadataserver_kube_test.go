package cli

import (
	"strings"
	"testing"
)

// TestMetadataServerKubernetesFlags checks --kubernetes' flags without an
// API server: each mistake is a one-line usage error naming the flag.
// (The server itself runs against a real API server in
// metadataserver/kubeidentity's tests, under make kubetest.)
func TestMetadataServerKubernetesFlags(t *testing.T) {
	t.Parallel()
	testKubernetesUsageErrors(t, []kubernetesUsageCase{
		{"kubernetes flag without --kubernetes", nil, []string{"--node-name", "n1"}, []string{"--node-name needs --kubernetes"}},
		{"credentials with --kubernetes", nil, []string{"--kubernetes", "--credentials", "key.json"}, []string{"--credentials cannot be used with --kubernetes"}},
		{"service account email with --kubernetes", nil, []string{"--kubernetes", "--service-account-email", "a@b.c"}, []string{"--service-account-email cannot be used"}},
		{"no provider", map[string]string{"NODE_NAME": "n1"}, []string{"--kubernetes", "--project", "p"}, []string{"--workload-identity-provider"}},
		{"no node", nil, []string{"--kubernetes", "--project", "p", "--workload-identity-provider", testProvider}, []string{"--node-name", "NODE_NAME"}},
		{"no project", map[string]string{"NODE_NAME": "n1"}, []string{"--kubernetes", "--workload-identity-provider", testProvider}, []string{"--project"}},
		{"bad host network address", map[string]string{"NODE_NAME": "n1"}, []string{"--kubernetes", "--project", "p", "--workload-identity-provider", testProvider, "--host-network-address", "node"}, []string{"--host-network-address", `"node"`}},
	})
}

// testProvider is a well-formed workload identity pool provider.
const testProvider = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k"

// kubernetesUsageCase is a metadata-server command line that must end in
// a one-line usage error holding every fragment.
type kubernetesUsageCase struct {
	name      string
	env       map[string]string
	args      []string
	fragments []string
}

func testKubernetesUsageErrors(t *testing.T, cases []kubernetesUsageCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			for k, v := range tc.env {
				e[k] = v
			}
			r := run(t, e, "", append([]string{"metadata-server"}, tc.args...)...)
			first, _, _ := strings.Cut(r.stderr, "\n")
			if r.code != ExitUsage {
				t.Errorf("exit %d, stderr %q; want %d", r.code, r.stderr, ExitUsage)
			}
			for _, f := range tc.fragments {
				if !strings.Contains(first, f) {
					t.Errorf("error line %q lacks %q", first, f)
				}
			}
		})
	}
}
