//go:build unix

package kubeidentity_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/metadataserver"
	"github.com/gcptoken/gcptoken/metadataserver/kubeidentity"
)

// TestWorkloadIdentity runs per-pod workload identity end to end against a
// real API server, with Google's Python and Node clients as the pods. The
// steps share one cluster and build on each other.
func TestWorkloadIdentity(t *testing.T) {
	w := newWorld(t)
	steps := []struct {
		name string
		run  func(t *testing.T, w *world)
	}{
		{"identity per pod", testIdentityPerPod},
		{"annotated service account: impersonation", testImpersonation},
		{"unannotated service account: direct federation", testDirectFederation},
		{"ip reuse", testIPReuse},
		{"host network", testHostNetwork},
		{"rbac denial", testRBACDenial},
		{"api server restart", testAPIServerRestart},
	}
	for _, step := range steps {
		if !t.Run(step.name, func(t *testing.T) { step.run(t, w) }) {
			t.Fatalf("step %q failed; later steps depend on it", step.name)
		}
	}
}

// Pod addresses. 127.0.0.0/8 is loopback on Linux: a process can connect
// from any of them, as a pod does from its own IP.
const (
	ipWeb   = "127.0.0.2"
	ipBatch = "127.0.0.3"
	ipLate  = "127.0.0.4"
)

// testIdentityPerPod: two pods of two ServiceAccounts, each client sees its
// own pod's account, and the pods of one identity share one cached token.
func testIdentityPerPod(t *testing.T, w *world) {
	web := w.runPod(t, "web-1", "web", ipWeb)
	batch := w.runPod(t, "batch-1", "batch", ipBatch)
	waitLookup(t, w.node, ipWeb, isPod(string(web.UID)))
	waitLookup(t, w.node, ipBatch, isPod(string(batch.UID)))
	var tokens []string
	eachPeer(t, w.addr, ipWeb, "", func(t *testing.T, r podResult) {
		if r.Error != "" || r.Email != w.gsa {
			t.Fatalf("pod web-1: email %q, error %q; want %s", r.Email, r.Error, w.gsa)
		}
		tokens = append(tokens, r.Token)
	})
	eachPeer(t, w.addr, ipBatch, "", func(t *testing.T, r podResult) {
		if want := fakegoogle.DefaultProjectID + ".svc.id.goog"; r.Error != "" || r.Email != want {
			t.Fatalf("pod batch-1: email %q, error %q; want %s", r.Email, r.Error, want)
		}
	})
	if len(tokens) == 2 && tokens[0] != tokens[1] {
		t.Errorf("two clients of one identity got different tokens; want the one cached token")
	}
	// One identity, one upstream chain: one STS exchange and one
	// impersonation for web however many clients asked.
	if n := w.fake.RequestCount("/v1/projects/-/serviceAccounts/" + w.gsa + ":generateAccessToken"); n != 1 {
		t.Errorf("generateAccessToken for %s: %d calls; want 1 (cached per identity)", w.gsa, n)
	}
	// Headers do not choose the pod: the source address does.
	code, body := httpFrom(t, w.addr, "127.0.0.99", "/computeMetadata/v1/instance/service-accounts/default/email")
	if code != 403 || !strings.Contains(body, "no pod on node "+nodeName+" has the address 127.0.0.99") {
		t.Errorf("unknown address: %d %q; want 403 naming the address", code, body)
	}
}

// testImpersonation: the annotated ServiceAccount's pods get the Google
// service account's access and ID tokens.
func testImpersonation(t *testing.T, w *world) {
	eachPeer(t, w.addr, ipWeb, audienceURL, func(t *testing.T, r podResult) {
		if r.Error != "" || r.IDTokenError != "" {
			t.Fatalf("error %q, ID token error %q", r.Error, r.IDTokenError)
		}
		if sub := w.tokenInfo(t, r.Token); sub != w.gsaID {
			t.Errorf("access token is %q's; want %s's (%s)", sub, w.gsa, w.gsaID)
		}
		c := idClaims(t, r.IDToken)
		if c["aud"] != audienceURL || c["email"] != w.gsa {
			t.Errorf("ID token aud %v email %v; want %s, %s", c["aud"], c["email"], audienceURL, w.gsa)
		}
	})
}

// testDirectFederation: the unannotated ServiceAccount's pods get the
// federated principal's own token, and no ID token (STS issues none; GKE
// refuses them too), with a reason that names the annotation.
func testDirectFederation(t *testing.T, w *world) {
	eachPeer(t, w.addr, ipBatch, audienceURL, func(t *testing.T, r podResult) {
		if r.Error != "" {
			t.Fatalf("error %q", r.Error)
		}
		if sub := w.tokenInfo(t, r.Token); sub != w.principal("batch") {
			t.Errorf("access token's principal %q; want %s", sub, w.principal("batch"))
		}
		if r.IDToken != "" || !strings.Contains(r.IDTokenError, kubeidentity.GoogleServiceAccountAnnotation) {
			t.Errorf("ID token %q, error %q; want a refusal naming %s", r.IDToken, r.IDTokenError, kubeidentity.GoogleServiceAccountAnnotation)
		}
	})
}

// testIPReuse: a pod ends, a new pod of another ServiceAccount gets its
// address; while the watch shows two live pods with one address, neither
// identity is served; afterwards only the new pod's is.
func testIPReuse(t *testing.T, w *world) {
	ctx := t.Context()
	old, err := w.admin.CoreV1().Pods(appNamespace).Get(ctx, "batch-1", metav1.GetOptions{})
	must(t, err)
	w.endPod(t, old)
	waitLookup(t, w.node, ipBatch, func(_ metadataserver.Pod, err error) bool { return errors.Is(err, metadataserver.ErrPodNotFound) })
	reused := w.runPod(t, "web-2", "web", ipBatch)
	waitLookup(t, w.node, ipBatch, isPod(string(reused.UID)))
	eachPeer(t, w.addr, ipBatch, "", func(t *testing.T, r podResult) {
		if r.Error != "" || r.Email != w.gsa {
			t.Fatalf("new pod web-2 on batch-1's old address: email %q, error %q; want %s", r.Email, r.Error, w.gsa)
		}
	})

	// A second live pod with the same address: the watch has not seen the
	// first end. No identity at all rather than possibly the wrong one.
	usurper := w.runPod(t, "batch-2", "batch", ipBatch)
	waitLookup(t, w.node, ipBatch, func(_ metadataserver.Pod, err error) bool {
		return err != nil && strings.Contains(err.Error(), "several live pods")
	})
	code, body := httpFrom(t, w.addr, ipBatch, "/computeMetadata/v1/instance/service-accounts/default/email")
	if code != 503 || !strings.Contains(body, "batch-2") || !strings.Contains(body, "web-2") {
		t.Errorf("two live pods on one address: %d %q; want 503 naming both", code, body)
	}
	eachPeer(t, w.addr, ipBatch, "", func(t *testing.T, r podResult) {
		if r.Email != "" || r.Token != "" || r.Error == "" {
			t.Fatalf("an address two live pods claim: email %q; want no identity and an error", r.Email)
		}
	})

	// The older pod goes (deleted with no grace period, as the kubelet
	// finishes a deletion once the containers are gone; none runs here):
	// the address is the new pod's.
	now := int64(0)
	must(t, w.admin.CoreV1().Pods(appNamespace).Delete(ctx, "web-2", metav1.DeleteOptions{GracePeriodSeconds: &now}))
	waitLookup(t, w.node, ipBatch, isPod(string(usurper.UID)))
	eachPeer(t, w.addr, ipBatch, "", func(t *testing.T, r podResult) {
		if r.Error != "" || r.Email != fakegoogle.DefaultProjectID+".svc.id.goog" {
			t.Fatalf("pod batch-2: email %q, error %q; want the federated principal", r.Email, r.Error)
		}
		if sub := w.tokenInfo(t, r.Token); sub != w.principal("batch") {
			t.Errorf("token's principal %q; want %s", sub, w.principal("batch"))
		}
	})
}

// testHostNetwork: callers with the node's address act as the
// ServiceAccount the Node's annotation names, once that account consents.
func testHostNetwork(t *testing.T, w *world) {
	ctx := t.Context()
	if code, body := httpFrom(t, w.addr, nodeIP, emailPath); code != 403 || !strings.Contains(body, kubeidentity.HostNetworkAnnotation) {
		t.Fatalf("node address without annotation: %d %q; want 403 naming %s", code, body, kubeidentity.HostNetworkAnnotation)
	}
	w.serviceAccount(t, "node-agent", nil)
	annotate := func(key, value string, node bool) {
		t.Helper()
		patch := []byte(`{"metadata":{"annotations":{"` + key + `":"` + value + `"}}}`)
		var err error
		if node {
			_, err = w.admin.CoreV1().Nodes().Patch(ctx, nodeName, types.MergePatchType, patch, metav1.PatchOptions{})
		} else {
			_, err = w.admin.CoreV1().ServiceAccounts(appNamespace).Patch(ctx, "node-agent", types.MergePatchType, patch, metav1.PatchOptions{})
		}
		must(t, err)
	}
	annotate(kubeidentity.HostNetworkAnnotation, appNamespace+"/node-agent", true)
	waitHTTP(t, w.addr, nodeIP, emailPath, 403, "does not allow it")
	annotate(kubeidentity.AllowHostNetworkAnnotation, "true", false)
	waitHTTP(t, w.addr, nodeIP, emailPath, 200, fakegoogle.DefaultProjectID+".svc.id.goog")
	eachPeer(t, w.addr, nodeIP, "", func(t *testing.T, r podResult) {
		if r.Error != "" {
			t.Fatalf("hostNetwork caller: error %q", r.Error)
		}
		if sub := w.tokenInfo(t, r.Token); sub != w.principal("node-agent") {
			t.Errorf("hostNetwork caller's token is %q's; want %s's", sub, w.principal("node-agent"))
		}
	})
}

// waitHTTP polls a request from source until it answers code with a body
// containing want.
func waitHTTP(t *testing.T, addr, source, path string, code int, want string) {
	t.Helper()
	var gotCode int
	var body string
	// A minute and a half: a watch that lost the API server backs off
	// for up to 30 seconds between attempts.
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if gotCode, body = httpFrom(t, addr, source, path); gotCode == code && strings.Contains(body, want) {
			return
		}
	}
	t.Fatalf("GET %s from %s: still %d %q; want %d containing %q", path, source, gotCode, body, code, want)
}

// testRBACDenial runs the server as ServiceAccounts the overlay's RBAC does
// not cover: without any grant its watches never sync (lookups 503);
// allowed to watch but not to request tokens, pods are found but get the
// API server's refusal, not tokens.
func testRBACDenial(t *testing.T, w *world) {
	ctx := t.Context()
	must(t, w.c.Apply(ctx, []byte(`
apiVersion: v1
kind: ServiceAccount
metadata: {name: nobody, namespace: gcptoken-system}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: watcher, namespace: gcptoken-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: watch-only}
rules:
- apiGroups: [""]
  resources: ["pods", "serviceaccounts", "nodes"]
  verbs: ["list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: watcher-watches}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: watch-only}
subjects:
- {kind: ServiceAccount, name: watcher, namespace: gcptoken-system}
`)))
	nobodyCfg, err := w.c.ServiceAccountConfig(ctx, serverNS, "nobody")
	must(t, err)
	nobody, err := w.newNode(nobodyCfg)
	must(t, err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { nobody.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()
	syncCtx, cancelSync := context.WithTimeout(ctx, 5*time.Second)
	defer cancelSync()
	if err := nobody.WaitForSync(syncCtx); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("WaitForSync without RBAC: %v; want the watches' Forbidden", err)
	}
	nobodyAddr := w.serveNode(t, nobody)
	eachPeer(t, nobodyAddr, ipWeb, "", func(t *testing.T, r podResult) {
		if r.Token != "" || r.Error == "" {
			t.Fatalf("server without RBAC: got a token; want none")
		}
	})
	if code, body := httpFrom(t, nobodyAddr, ipWeb, "/computeMetadata/v1/instance/service-accounts/default/email"); code != 503 || !strings.Contains(body, "forbidden") {
		t.Errorf("server without RBAC: %d %q; want 503 with the Forbidden", code, body)
	}

	watcherCfg, err := w.c.ServiceAccountConfig(ctx, serverNS, "watcher")
	must(t, err)
	_, watcherAddr := w.serve(t, watcherCfg)
	eachPeer(t, watcherAddr, ipWeb, "", func(t *testing.T, r podResult) {
		if r.Token != "" || !strings.Contains(r.Error, "serviceaccounts/token") {
			t.Fatalf("server without serviceaccounts/token: token %v, error %q; want the API server's refusal", r.Token != "", r.Error)
		}
	})
}

// testAPIServerRestart: while the API server is down, pods are still
// served from the informers' memory and the token caches; once it is back,
// the informers watch again and a new pod and a new ServiceAccount work.
func testAPIServerRestart(t *testing.T, w *world) {
	ctx := t.Context()
	must(t, w.c.StopAPIServer())
	stopped := true
	defer func() {
		if stopped {
			_ = w.c.StartAPIServer(context.Background())
		}
	}()
	eachPeer(t, w.addr, ipWeb, "", func(t *testing.T, r podResult) {
		if r.Error != "" || r.Email != w.gsa {
			t.Fatalf("API server down: email %q, error %q; want %s from memory", r.Email, r.Error, w.gsa)
		}
	})
	must(t, w.c.StartAPIServer(ctx))
	stopped = false

	restarted := time.Now()
	w.serviceAccount(t, "late", nil)
	late := w.runPod(t, "late-1", "late", ipLate)
	waitLookup(t, w.node, ipLate, isPod(string(late.UID)))
	// The ServiceAccount watch may reconnect later than the pod watch
	// (each backs off on its own): the pod's identity resolves once both
	// have.
	waitHTTP(t, w.addr, ipLate, emailPath, 200, fakegoogle.DefaultProjectID+".svc.id.goog")
	t.Logf("watches caught up %s after the API server was back", time.Since(restarted).Round(time.Millisecond))
	eachPeer(t, w.addr, ipLate, "", func(t *testing.T, r podResult) {
		if r.Error != "" {
			t.Fatalf("pod created after the restart: error %q", r.Error)
		}
		if sub := w.tokenInfo(t, r.Token); sub != w.principal("late") {
			t.Errorf("token's principal %q; want %s", sub, w.principal("late"))
		}
	})
}
