//go:build unix

package kubeidentity_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gcptoken/gcptoken/metadataserver"
)

// The figures of docs/scale.md ("Per-pod identity on Kubernetes"), measured
// against the real API server. Each test asserts a bound well above what
// it measures and logs the figure.

const scalePods = 10000

// TestScaleInformerMemory lists 10,000 pods of the node (as the API server
// stores a Deployment's pods, kubelet status included) into a Node, and
// measures what its informers hold per pod, against what the same pods
// cost decoded in full, and how long a lookup takes. Another node's pods
// cost it nothing: the watch selects spec.nodeName.
func TestScaleInformerMemory(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	started := time.Now()
	createPods(t, w.admin, scalePods, nodeName)
	createPods(t, w.admin, 1000, "node-2")
	t.Logf("created %d pods in %s", scalePods+1000, time.Since(started).Round(time.Second))

	// What holding the pods decoded in full costs: a plain informer's store.
	before := heapInUse()
	full, err := w.admin.CoreV1().Pods(appNamespace).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + nodeName})
	must(t, err)
	fullPerPod := float64(heapInUse()-before) / float64(len(full.Items))
	if len(full.Items) != scalePods {
		t.Fatalf("listed %d pods; want %d", len(full.Items), scalePods)
	}
	runtime.KeepAlive(full)
	full = nil

	before = heapInUse()
	cfg, err := w.c.ServiceAccountConfig(ctx, serverNS, serverSA)
	must(t, err)
	listStart := time.Now()
	node, _ := w.serve(t, cfg) // lists and watches through the overlay's RBAC
	syncTime := time.Since(listStart)
	trimmedPerPod := float64(heapInUse()-before) / scalePods
	t.Logf("memory per pod: %.0f bytes in the Node's informer (%.1f MiB per 10,000 pods), %.0f bytes decoded in full; first list and sync %s",
		trimmedPerPod, trimmedPerPod*10000/(1<<20), fullPerPod, syncTime.Round(time.Millisecond))
	if trimmedPerPod > 2048 || trimmedPerPod*4 > fullPerPod {
		t.Errorf("the informer holds %.0f bytes per pod (%.0f in full); want under 2 KiB and a quarter of the full object", trimmedPerPod, fullPerPod)
	}

	// Lookup latency: every address once, then percentiles.
	lat := make([]time.Duration, 0, scalePods)
	for i := range scalePods {
		ip := netip.MustParseAddr(podIP(i))
		lctx, cancel := context.WithTimeout(ctx, time.Second)
		t0 := time.Now()
		pod, err := node.PodByIP(lctx, ip)
		lat = append(lat, time.Since(t0))
		cancel()
		if err != nil || pod.Name != podName(i) {
			t.Fatalf("lookup of %s: %+v, %v; want %s", ip, pod, err, podName(i))
		}
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("lookup latency over %d pods: p50 %s, p99 %s, max %s", scalePods, p50, p99, lat[len(lat)-1])
	if p99 > time.Millisecond {
		t.Errorf("lookup p99 %s; want under 1ms (an index lookup)", p99)
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func podName(i int) string { return fmt.Sprintf("app-%05d", i) }

// podIP is the i-th pod's address, in a documentation-free private range
// that no test connects from.
func podIP(i int) string { return fmt.Sprintf("10.%d.%d.%d", 64+i/65536, i/256%256, i%256) }

// createPods creates n pods on node, shaped like a Deployment's with the
// status a kubelet writes, with 16 writers.
func createPods(t *testing.T, admin kubernetes.Interface, n int, node string) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := createPod(t.Context(), admin, i, node); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func createPod(ctx context.Context, admin kubernetes.Interface, i int, node string) error {
	name := podName(i)
	if node != nodeName {
		name = node + "-" + name
	}
	cpu, mem := resource.MustParse("100m"), resource.MustParse("128Mi")
	container := func(n string) corev1.Container {
		return corev1.Container{
			Name: n, Image: "registry.example/team/" + n + ":v1.2.3", Args: []string{"--port=8080", "--log-format=json"},
			Env:       []corev1.EnvVar{{Name: "GCE_METADATA_HOST", Value: "$(HOST_IP):8087"}, {Name: "LOG_LEVEL", Value: "info"}},
			Ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": cpu, "memory": mem}, Limits: corev1.ResourceList{"memory": mem}},
		}
	}
	pod, err := admin.CoreV1().Pods(appNamespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "shop", "pod-template-hash": "7d9f8c6b5"},
			Annotations: map[string]string{"prometheus.io/scrape": "true"}},
		Spec: corev1.PodSpec{ServiceAccountName: "web", NodeName: node, Containers: []corev1.Container{container("app"), container("sidecar")}},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create pod %s: %w", name, err)
	}
	now := metav1.Now()
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: podIP(i), PodIPs: []corev1.PodIP{{IP: podIP(i)}}, HostIP: "192.0.2.10", StartTime: &now,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now}},
	}
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Ready: true, Image: c.Image, ImageID: "registry.example/team/" + c.Name + "@sha256:" + strings.Repeat("ab", 32),
			ContainerID: "containerd://" + strings.Repeat("cd", 32), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	if _, err := admin.CoreV1().Pods(appNamespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("status of pod %s: %w", name, err)
	}
	return nil
}

// TestScaleTokensUnderChurn replaces the pods of three ServiceAccounts
// generation after generation (each pod asks for its token, then goes,
// and the next pod of its account may get its address), and counts what
// reached the Kubernetes and Google APIs: per identity one TokenRequest,
// one STS exchange and (for the annotated account) one impersonation,
// however many pods came and went.
func TestScaleTokensUnderChurn(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	cfg, err := w.c.ServiceAccountConfig(ctx, serverNS, serverSA)
	must(t, err)
	var tokenRequests atomic.Int64
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") {
				tokenRequests.Add(1)
			}
			return rt.RoundTrip(r)
		})
	})
	node, addr := w.serve(t, cfg)
	w.serviceAccount(t, "worker", nil)
	accounts := []string{"web", "batch", "worker"}
	const generations = 30
	addrs := []string{"127.0.0.20", "127.0.0.21", "127.0.0.22", "127.0.0.23"} // fewer than pods: addresses are reused
	served, started := 0, time.Now()
	var cached []time.Duration // new connection, lookup, cached token
	for g := range generations {
		for a, ksa := range accounts {
			ip := addrs[(g*len(accounts)+a)%len(addrs)]
			pod := w.runPod(t, fmt.Sprintf("%s-gen%02d", ksa, g), ksa, ip)
			waitLookup(t, node, ip, isPod(string(pod.UID)))
			for i := range 3 {
				t0 := time.Now()
				if code, body := httpFrom(t, addr, ip, "/computeMetadata/v1/instance/service-accounts/default/token"); code != 200 {
					t.Fatalf("generation %d, %s at %s: %d %q", g, ksa, ip, code, body)
				}
				if g > 0 || i > 0 { // the cache answers: the identity has a token
					cached = append(cached, time.Since(t0))
				}
				served++
			}
			w.endPod(t, pod)
			now := int64(0)
			must(t, w.admin.CoreV1().Pods(appNamespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &now}))
			waitLookup(t, node, ip, func(_ metadataserver.Pod, err error) bool { return err != nil })
		}
	}
	sts := w.fake.RequestCount("/v1/token")
	imp := w.fake.RequestCount("/v1/projects/-/serviceAccounts/" + w.gsa + ":generateAccessToken")
	t.Logf("%d pods of %d identities over %d addresses, %d token requests in %s: %d TokenRequests, %d STS exchanges, %d impersonations",
		generations*len(accounts), len(accounts), len(addrs), served, time.Since(started).Round(time.Second), tokenRequests.Load(), sts, imp)
	slices.Sort(cached)
	t.Logf("a cached token over a new connection from a pod: p50 %s, p99 %s", cached[len(cached)/2], cached[len(cached)*99/100])
	if tokenRequests.Load() != int64(len(accounts)) || sts != len(accounts) || imp != 1 {
		t.Errorf("got %d TokenRequests, %d STS exchanges, %d impersonations; want %d, %d, 1 (one per identity, cached across pods)",
			tokenRequests.Load(), sts, imp, len(accounts), len(accounts))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
