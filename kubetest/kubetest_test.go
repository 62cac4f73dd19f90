//go:build unix

package kubetest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	testNamespace = "workloads"
	testPodIP     = "127.0.0.2" // loopback: a test can connect from it
	gsaAnnotation = "iam.gke.io/gcp-service-account"
	gsaEmail      = "app@example-project.iam.gserviceaccount.com"
	wifAudience   = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/cluster"
)

// TestCluster runs the harness end to end against the real servers: objects
// a workload-identity lookup needs, a TokenRequest token verified against
// the issuer's published keys, RBAC through the real authorizer, an API
// server restart, and that clean-up leaves no process behind.
func TestCluster(t *testing.T) {
	var pids []int
	t.Run("cluster", func(t *testing.T) {
		started := time.Now()
		c := Start(t, Options{})
		t.Logf("cluster ready in %s at %s", time.Since(started).Round(time.Millisecond), c.URL)
		pids = c.PIDs()
		admin := kubernetes.NewForConfigOrDie(c.AdminConfig())
		steps := []struct {
			name string
			run  func(t *testing.T, c *Cluster, admin kubernetes.Interface)
		}{
			{"workload objects", testWorkloadObjects},
			{"service account token", testServiceAccountToken},
			{"rbac", testRBAC},
			{"kubeconfig", testKubeconfig},
			{"api server restart", testRestart},
		}
		for _, step := range steps {
			if !t.Run(step.name, func(t *testing.T) { step.run(t, c, admin) }) {
				t.Fatalf("step %q failed; later steps depend on it", step.name)
			}
		}
	})
	if len(pids) != 2 {
		t.Fatalf("got %d server pids; want 2 (etcd, kube-apiserver)", len(pids))
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("server process %d after clean-up: kill(0) = %v; want ESRCH (gone)", pid, err)
		}
	}
}

// testWorkloadObjects creates what a pod lookup by IP reads: a namespace, an
// annotated ServiceAccount, a Node and a Pod whose IP is set through the
// status subresource (no kubelet runs).
func testWorkloadObjects(t *testing.T, c *Cluster, admin kubernetes.Interface) {
	ctx := t.Context()
	mustCreate(t, "namespace", func() error {
		_, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, "service account", func() error {
		_, err := admin.CoreV1().ServiceAccounts(testNamespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
			Name: "app", Annotations: map[string]string{gsaAnnotation: gsaEmail},
		}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, "node", func() error {
		_, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}, metav1.CreateOptions{})
		return err
	})
	pod, err := admin.CoreV1().Pods(testNamespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app-1"},
		Spec: corev1.PodSpec{
			ServiceAccountName: "app",
			NodeName:           "node-1",
			Containers:         []corev1.Container{{Name: "app", Image: "app.example/app:1"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	if pod.Status.PodIP != "" {
		t.Fatalf("new pod has IP %q; want none before the status write", pod.Status.PodIP)
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = testPodIP
	pod.Status.PodIPs = []corev1.PodIP{{IP: testPodIP}}
	if _, err := admin.CoreV1().Pods(testNamespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update pod status: %v", err)
	}

	// The field selector a lookup by client IP can use.
	pods, err := admin.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("status.podIP", testPodIP).String()})
	if err != nil {
		t.Fatalf("list pods by IP: %v", err)
	}
	if len(pods.Items) != 1 || pods.Items[0].Name != "app-1" || pods.Items[0].Status.Phase != corev1.PodRunning {
		t.Fatalf("pods with IP %s: got %v; want app-1, Running", testPodIP, podNames(pods.Items))
	}
	sa, err := admin.CoreV1().ServiceAccounts(testNamespace).Get(ctx, pods.Items[0].Spec.ServiceAccountName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get the pod's service account: %v", err)
	}
	if got := sa.Annotations[gsaAnnotation]; got != gsaEmail {
		t.Fatalf("got annotation %s = %q; want %q", gsaAnnotation, got, gsaEmail)
	}
}

// testServiceAccountToken asks for a pod-bound token with a workload
// identity pool's audience and verifies it as Google's STS would: keys from
// the issuer's discovery document, fetched without credentials.
func testServiceAccountToken(t *testing.T, c *Cluster, admin kubernetes.Interface) {
	ctx := t.Context()
	pod, err := admin.CoreV1().Pods(testNamespace).Get(ctx, "app-1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod: %v", err)
	}
	lifetime := int64(600)
	tr, err := admin.CoreV1().ServiceAccounts(testNamespace).CreateToken(ctx, "app", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{wifAudience},
			ExpirationSeconds: &lifetime,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}

	anonymous, err := rest.HTTPClientFor(c.AnonymousConfig())
	if err != nil {
		t.Fatal(err)
	}
	var discovery struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, anonymous, c.Issuer+"/.well-known/openid-configuration", &discovery)
	if discovery.Issuer != c.Issuer || discovery.JWKSURI != c.URL+"/openid/v1/jwks" {
		t.Fatalf("discovery: got issuer %q, jwks_uri %q; want %q, %q", discovery.Issuer, discovery.JWKSURI, c.Issuer, c.URL+"/openid/v1/jwks")
	}
	var keys jose.JSONWebKeySet
	getJSON(t, anonymous, discovery.JWKSURI, &keys)

	token, err := jwt.ParseSigned(tr.Status.Token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse token: %v", err)
	}
	matching := keys.Key(token.Headers[0].KeyID)
	if len(matching) != 1 {
		t.Fatalf("got %d published keys with the token's kid; want 1", len(matching))
	}
	var claims jwt.Claims
	var k8s struct {
		Kubernetes struct {
			Namespace      string    `json:"namespace"`
			Pod            objectRef `json:"pod"`
			ServiceAccount objectRef `json:"serviceaccount"`
		} `json:"kubernetes.io"`
	}
	if err := token.Claims(matching[0].Public().Key, &claims, &k8s); err != nil {
		t.Fatalf("verify token signature against the published key: %v", err)
	}
	wantSubject := "system:serviceaccount:" + testNamespace + ":app"
	if err := claims.Validate(jwt.Expected{Issuer: c.Issuer, Subject: wantSubject, AnyAudience: jwt.Audience{wifAudience}, Time: time.Now()}); err != nil {
		t.Fatalf("claims iss=%q sub=%q aud=%q: %v; want iss %q, sub %q, aud %q", claims.Issuer, claims.Subject, claims.Audience, err, c.Issuer, wantSubject, wifAudience)
	}
	if got := k8s.Kubernetes; got.Namespace != testNamespace || got.Pod.Name != "app-1" || got.Pod.UID != string(pod.UID) || got.ServiceAccount.Name != "app" {
		t.Fatalf("kubernetes.io claim: got %+v; want namespace %s, pod app-1 (uid %s), service account app", got, testNamespace, pod.UID)
	}

	// The API server authenticates its own token only for its own audience.
	review, err := admin.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{
		Token: tr.Status.Token, Audiences: []string{wifAudience},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token review: %v", err)
	}
	if !review.Status.Authenticated || review.Status.User.Username != wantSubject {
		t.Fatalf("token review: authenticated=%v user=%q (%s); want true, %q", review.Status.Authenticated, review.Status.User.Username, review.Status.Error, wantSubject)
	}
}

const podReaderRBAC = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: pod-reader
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: reader-reads-pods
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: pod-reader
subjects:
- kind: ServiceAccount
  name: reader
  namespace: workloads
`

// testRBAC checks that a service account is denied until a ClusterRole and
// binding are applied, both by a SubjectAccessReview and by a real request
// made with its own token.
func testRBAC(t *testing.T, c *Cluster, admin kubernetes.Interface) {
	ctx := t.Context()
	mustCreate(t, "service account reader", func() error {
		_, err := admin.CoreV1().ServiceAccounts(testNamespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{})
		return err
	})
	cfg, err := c.ServiceAccountConfig(ctx, testNamespace, "reader")
	if err != nil {
		t.Fatal(err)
	}
	reader := kubernetes.NewForConfigOrDie(cfg)
	_, err = reader.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("list pods as reader without a binding: got %v; want Forbidden", err)
	}
	if allowed := canListPods(t, admin, "system:serviceaccount:"+testNamespace+":reader"); allowed {
		t.Fatal("SubjectAccessReview before the binding: allowed; want denied")
	}

	if err := c.Apply(ctx, []byte(podReaderRBAC)); err != nil {
		t.Fatal(err)
	}
	// The RBAC authorizer reads bindings from an informer: allow it a moment.
	var pods *corev1.PodList
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		pods, err = reader.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if !apierrors.IsForbidden(err) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("list pods as reader after the binding: %v", err)
	}
	if names := podNames(pods.Items); !slices.Equal(names, []string{"app-1"}) {
		t.Fatalf("pods listed by reader: got %v; want [app-1]", names)
	}
	if allowed := canListPods(t, admin, "system:serviceaccount:"+testNamespace+":reader"); !allowed {
		t.Fatal("SubjectAccessReview after the binding: denied; want allowed")
	}
	if _, err := reader.CoreV1().Secrets(testNamespace).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list secrets as reader: got %v; want Forbidden (the role grants pods only)", err)
	}
}

// testKubeconfig writes the reader's configuration as a kubeconfig file
// and uses it the way a program under test would.
func testKubeconfig(t *testing.T, c *Cluster, _ kubernetes.Interface) {
	cfg, err := c.ServiceAccountConfig(t.Context(), testNamespace, "reader")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := WriteKubeconfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	loaded, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	pod, err := kubernetes.NewForConfigOrDie(loaded).CoreV1().Pods(testNamespace).Get(t.Context(), "app-1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod as reader through the kubeconfig: %v", err)
	}
	if pod.Status.PodIP != testPodIP {
		t.Fatalf("pod IP: got %q; want %q", pod.Status.PodIP, testPodIP)
	}
}

// testRestart restarts the API server: the data in etcd and the signing key
// survive, so objects and tokens issued before still work.
func testRestart(t *testing.T, c *Cluster, admin kubernetes.Interface) {
	ctx := t.Context()
	cfg, err := c.ServiceAccountConfig(ctx, testNamespace, "reader")
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if err := c.RestartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server restarted in %s", time.Since(started).Round(time.Millisecond))
	pod, err := admin.CoreV1().Pods(testNamespace).Get(ctx, "app-1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod after restart (same client): %v", err)
	}
	if pod.Status.PodIP != testPodIP {
		t.Fatalf("pod IP after restart: got %q; want %q", pod.Status.PodIP, testPodIP)
	}
	reader := kubernetes.NewForConfigOrDie(cfg)
	if _, err := reader.CoreV1().Pods(testNamespace).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("list pods with a token issued before the restart: %v", err)
	}
}

type objectRef struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

func canListPods(t *testing.T, admin kubernetes.Interface, user string) bool {
	t.Helper()
	review, err := admin.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               user,
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + testNamespace, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("subject access review: %v", err)
	}
	return review.Status.Allowed
}

func mustCreate(t *testing.T, what string, create func() error) {
	t.Helper()
	if err := create(); err != nil {
		t.Fatalf("create %s: %v", what, err)
	}
}

func getJSON(t *testing.T, client *http.Client, url string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s without credentials: %s; want 200", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
}

func podNames(pods []corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	return names
}
