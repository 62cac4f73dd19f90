//go:build unix

package kubeidentity_test

import (
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/gcptoken/gcptoken/metadataserver"
	"github.com/gcptoken/gcptoken/metadataserver/kubeidentity"
)

const emailPath = "/computeMetadata/v1/instance/service-accounts/default/email"

// TestSecurityReusedIPDoesNotInheritIdentity: a pod that is given the
// address of a pod with a powerful identity, before the server's watch has
// seen that pod end, must not be served the powerful identity. Two live
// pods on one address get no identity at all (503) until the watch
// settles.
func TestSecurityReusedIPDoesNotInheritIdentity(t *testing.T) {
	w := newWorld(t)
	w.serviceAccount(t, "intruder", nil)
	web := w.runPod(t, "web-1", "web", ipWeb)
	waitLookup(t, w.node, ipWeb, isPod(string(web.UID)))
	// The attacker's pod gets web-1's address while web-1 still looks
	// Running to the watch.
	w.runPod(t, "intruder-1", "intruder", ipWeb)
	waitLookup(t, w.node, ipWeb, func(_ metadataserver.Pod, err error) bool { return err != nil })
	for range 3 { // each waits the lookup timeout for the watch to settle
		code, body := httpFrom(t, w.addr, ipWeb, emailPath)
		if code == 200 || strings.Contains(body, w.gsa) {
			t.Fatalf("an address two live pods claim was served %d %q; want 503 and no identity", code, body)
		}
		if code != 503 {
			t.Fatalf("an address two live pods claim: %d %q; want 503 (clients retry)", code, body)
		}
	}
}

// TestSecurityHostNetworkAccountNeedsConsent: whoever may annotate a Node
// (a node's own kubelet may edit its Node object) must not be able to
// give the node's hostNetwork pods any ServiceAccount's identity: the
// ServiceAccount must consent with gcptoken.io/allow-host-network=true.
func TestSecurityHostNetworkAccountNeedsConsent(t *testing.T) {
	w := newWorld(t)
	patch := []byte(`{"metadata":{"annotations":{"` + kubeidentity.HostNetworkAnnotation + `":"` + appNamespace + `/web"}}}`)
	_, err := w.admin.CoreV1().Nodes().Patch(t.Context(), nodeName, types.MergePatchType, patch, metav1.PatchOptions{})
	must(t, err)
	waitHTTP(t, w.addr, nodeIP, emailPath, 403, "does not allow it")
	for range 5 {
		if code, body := httpFrom(t, w.addr, nodeIP, emailPath); code != 403 || strings.Contains(body, w.gsa) && !strings.Contains(body, "does not allow") {
			t.Fatalf("hostNetwork caller naming a ServiceAccount that did not consent: %d %q; want 403", code, body)
		}
	}
}

// TestSecurityTokenAudiencePinned: the server may create tokens of any
// ServiceAccount (RBAC cannot say which); a stolen server identity must
// not mint one for the API server's own audience and act as a powerful
// ServiceAccount against the cluster. The overlay's
// ValidatingAdmissionPolicy keeps it to workload identity pool audiences
// and an hour at most.
func TestSecurityTokenAudiencePinned(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	cfg, err := w.c.ServiceAccountConfig(ctx, serverNS, serverSA)
	must(t, err)
	server := kubernetes.NewForConfigOrDie(cfg)
	request := func(audiences []string, seconds int64) error {
		_, err := server.CoreV1().ServiceAccounts(appNamespace).CreateToken(ctx, "web", &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &seconds},
		}, metav1.CreateOptions{})
		return err
	}
	// The policy applies once the API server has loaded it.
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if last = request([]string{w.c.Issuer}, 600); last != nil {
			break
		}
	}
	if !apierrors.IsInvalid(last) && !apierrors.IsForbidden(last) || !strings.Contains(last.Error(), "workload identity pool") {
		t.Fatalf("token for the API server's audience: %v; want the policy's refusal", last)
	}
	for _, tc := range []struct {
		name      string
		audiences []string
		seconds   int64
		allowed   bool
	}{
		{"API server audience (the default)", nil, 600, false},
		{"another service's audience", []string{"https://vault.example"}, 600, false},
		{"pool audience and the API server's", []string{w.provider.Audience(), w.c.Issuer}, 600, false},
		{"pool audience, two days", []string{w.provider.Audience()}, 48 * 3600, false},
		{"pool audience", []string{w.provider.Audience()}, 600, true},
	} {
		if err := request(tc.audiences, tc.seconds); (err == nil) != tc.allowed {
			t.Errorf("%s: err = %v; want allowed=%v", tc.name, err, tc.allowed)
		}
	}
	// Others, the cluster's own components among them, are not limited.
	if _, err := w.admin.CoreV1().ServiceAccounts(appNamespace).CreateToken(ctx, "web", &authenticationv1.TokenRequest{}, metav1.CreateOptions{}); err != nil {
		t.Errorf("the administrator's token request: %v; want it unaffected", err)
	}
}
