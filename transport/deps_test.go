package transport_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTransportLinksNoCredentials: a Transport knows only token providers,
// as golang.org/x/oauth2's does, so a program that sends tokens of its own
// through it links none of the credential code (package credentials, and
// with it the AWS SDK's signer of federated subject tokens).
func TestTransportLinksNoCredentials(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the package's dependencies: %v", err)
	}
	out, err := exec.Command(goCmd, "list", "-deps", "github.com/gcptoken/gcptoken/transport").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps listed nothing")
	}
	for _, dep := range deps {
		for _, banned := range []string{"github.com/aws/", "github.com/gcptoken/gcptoken/credentials"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("transport depends on %s; want no credential code in a RoundTripper", dep)
			}
		}
	}
}
