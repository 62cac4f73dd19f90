//go:build unix

package kubeidentity_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/kubetest"
	"github.com/gcptoken/gcptoken/metadataserver"
	"github.com/gcptoken/gcptoken/metadataserver/kubeidentity"
)

// The world of these tests: a real kube-apiserver (kubetest) whose
// service-account issuer a workload identity pool provider of fakegoogle
// trusts; the deploy overlay's RBAC applied through the real authorizer;
// a Node and PodIdentityServer running as the overlay's ServiceAccount;
// and "pods": processes of Google's Python and Node clients whose
// connections come from 127.0.0.x, the addresses the pods have in the
// API server.

const (
	nodeName     = "node-1"
	nodeIP       = "127.0.0.10" // the Node's InternalIP: hostNetwork callers
	appNamespace = "shop"
	serverNS     = "gcptoken-system"
	serverSA     = "gcptoken-metadata-server"
	audienceURL  = "https://svc.example.run.app"
	poolProject  = "123456789012"
)

type world struct {
	c        *kubetest.Cluster
	admin    kubernetes.Interface
	fake     *fakegoogle.Running
	provider fakegoogle.IdentityProvider
	gsa      string // the Google service account "web" is annotated with
	gsaID    string // its unique id, the sub of its access tokens
	node     *kubeidentity.Node
	addr     string // the metadata server's host:port
}

// newWorld starts everything but the pods.
func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	w := &world{c: kubetest.Start(t, kubetest.Options{})}
	w.admin = kubernetes.NewForConfigOrDie(w.c.AdminConfig())
	fake, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	w.fake = fake

	// Google trusts the cluster: its issuer, its published keys.
	w.provider = fakegoogle.IdentityProvider{
		ProjectNumber: poolProject, Pool: "clusters", Provider: "kubetest", Type: fakegoogle.ProviderOIDC,
		Issuer: w.c.Issuer, JWKS: w.anonymousGet(t, "/openid/v1/jwks"),
		AttributeMapping: map[string]string{"google.subject": "assertion.sub"},
	}
	if err := fake.AddIdentityProvider(w.provider); err != nil {
		t.Fatal(err)
	}
	sa, err := fake.AddServiceAccount("web@" + fakegoogle.DefaultProjectID + ".iam.gserviceaccount.com")
	if err != nil {
		t.Fatal(err)
	}
	w.gsa, w.gsaID = sa.Email, sa.UniqueID
	if err := fake.GrantWorkloadIdentityUser(w.principal("web"), w.gsa); err != nil {
		t.Fatal(err)
	}

	// The cluster: the deploy overlay as `kubectl apply -k` would create it
	// (namespace, ServiceAccount, RBAC, admission policy, DaemonSet, which
	// nothing runs here), the workloads' ServiceAccounts, the Node.
	must(t, w.c.Apply(ctx, renderedOverlay(t)))
	must(t, w.c.Apply(ctx, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: "+appNamespace+"}\n")))
	w.serviceAccount(t, "web", map[string]string{kubeidentity.GoogleServiceAccountAnnotation: w.gsa})
	w.serviceAccount(t, "batch", nil)
	node, err := w.admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}, metav1.CreateOptions{})
	must(t, err)
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP}, {Type: corev1.NodeHostName, Address: nodeName}}
	_, err = w.admin.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	must(t, err)

	cfg, err := w.c.ServiceAccountConfig(ctx, serverNS, serverSA)
	must(t, err)
	w.node, w.addr = w.serve(t, cfg)
	return w
}

// serve runs a Node and a PodIdentityServer as cfg's user and returns
// the server's address once the informers have synced.
func (w *world) serve(t *testing.T, cfg *rest.Config) (*kubeidentity.Node, string) {
	t.Helper()
	node, err := w.newNode(cfg)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { node.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	// The RBAC authorizer sees new bindings after a moment: the informers
	// retry until then.
	syncCtx, cancelSync := context.WithTimeout(t.Context(), time.Minute)
	defer cancelSync()
	must(t, node.WaitForSync(syncCtx))
	return node, w.serveNode(t, node)
}

func (w *world) newNode(cfg *rest.Config) (*kubeidentity.Node, error) {
	emulator := strings.TrimPrefix(w.fake.URL, "http://")
	return kubeidentity.NewNode(&kubeidentity.Options{
		Config: cfg, NodeName: nodeName, Audience: w.provider.Audience(), ProjectID: fakegoogle.DefaultProjectID,
		Credentials: &credentials.Options{Getenv: func(k string) string {
			if k == "GCPTOKEN_EMULATOR_HOST" {
				return emulator
			}
			return ""
		}},
	})
}

// serveNode serves node's pods on a loopback port.
func (w *world) serveNode(t *testing.T, node *kubeidentity.Node) string {
	t.Helper()
	srv, err := metadataserver.NewPodIdentityServer(&metadataserver.PodIdentityOptions{
		Pods: node, Resolver: node,
		Server: metadataserver.Options{ProjectID: fakegoogle.DefaultProjectID, InstanceName: nodeName},
	})
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// principal is the federated principal of a ServiceAccount of appNamespace.
func (w *world) principal(ksa string) string {
	return w.provider.Principal("system:serviceaccount:" + appNamespace + ":" + ksa)
}

func (w *world) anonymousGet(t *testing.T, path string) []byte {
	t.Helper()
	client, err := rest.HTTPClientFor(w.c.AnonymousConfig())
	must(t, err)
	res, err := client.Get(w.c.URL + path)
	must(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	must(t, err)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", path, res.Status, body)
	}
	return body
}

// renderedOverlay is deploy/overlays/kubernetes rendered by kustomize, as
// deploy's tests keep it (make manifests).
func renderedOverlay(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "rendered", "overlays-kubernetes.yaml"))
	must(t, err)
	if !bytes.Contains(data, []byte("--kubernetes")) || !bytes.Contains(data, []byte("name: "+serverSA)) {
		t.Fatalf("the rendered overlay does not run metadata-server --kubernetes as %s", serverSA)
	}
	return data
}

func (w *world) serviceAccount(t *testing.T, name string, annotations map[string]string) {
	t.Helper()
	_, err := w.admin.CoreV1().ServiceAccounts(appNamespace).Create(t.Context(), &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
	}, metav1.CreateOptions{})
	must(t, err)
}

// runPod creates a pod of ksa on the node and, as a kubelet would, writes
// its status: Running with ip.
func (w *world) runPod(t *testing.T, name, ksa, ip string) *corev1.Pod {
	t.Helper()
	ctx := t.Context()
	pod, err := w.admin.CoreV1().Pods(appNamespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{ServiceAccountName: ksa, NodeName: nodeName,
			Containers: []corev1.Container{{Name: "app", Image: "app.example/app:1"}}},
	}, metav1.CreateOptions{})
	must(t, err)
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP, pod.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	pod, err = w.admin.CoreV1().Pods(appNamespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	must(t, err)
	return pod
}

// endPod writes a terminal phase, as a kubelet does when a pod's
// containers have exited; its IP is then free for the CNI to reuse.
func (w *world) endPod(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	p, err := w.admin.CoreV1().Pods(appNamespace).Get(t.Context(), pod.Name, metav1.GetOptions{})
	must(t, err)
	p.Status.Phase = corev1.PodSucceeded
	_, err = w.admin.CoreV1().Pods(appNamespace).UpdateStatus(t.Context(), p, metav1.UpdateOptions{})
	must(t, err)
}

// waitLookup polls node's lookup of ip until check accepts it: the
// informers see API writes after a moment.
func waitLookup(t *testing.T, node *kubeidentity.Node, ip string, check func(metadataserver.Pod, error) bool) {
	t.Helper()
	addr := netip.MustParseAddr(ip)
	var pod metadataserver.Pod
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		// A short deadline: PodByIP waits that long for an unsettled answer.
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		pod, err = node.PodByIP(ctx, addr)
		cancel()
		if check(pod, err) {
			return
		}
	}
	t.Fatalf("lookup of %s: still %+v, %v after 30s", ip, pod, err)
}

func isPod(uid string) func(metadataserver.Pod, error) bool {
	return func(p metadataserver.Pod, err error) bool { return err == nil && p.UID == uid }
}

// httpFrom makes one metadata request from source, as a pod would.
func httpFrom(t *testing.T, addr, source, path string) (int, string) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	tr := &http.Transport{DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
	req.Header.Set("Metadata-Flavor", "Google")
	res, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	must(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// tokenInfo asks the fake who an access token is for: a service account's
// unique id, or a federated principal.
func (w *world) tokenInfo(t *testing.T, tok string) (sub string) {
	t.Helper()
	res, err := http.Get(w.fake.URL + "/tokeninfo?access_token=" + url.QueryEscape(tok))
	must(t, err)
	defer res.Body.Close()
	var info struct{ Sub string }
	if err := json.NewDecoder(res.Body).Decode(&info); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("tokeninfo: %s, %v", res.Status, err)
	}
	return info.Sub
}

// idClaims decodes an ID token's claims (the fake signed it; its claims are
// what is checked here).
func idClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("ID token has %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, err)
	var c map[string]any
	must(t, json.Unmarshal(payload, &c))
	return c
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------------------
// Pods: Google's clients as processes whose connections come from a pod's
// address.

// podResult is what testdata/pod.py and pod.js print.
type podResult struct {
	Client       string `json:"-"`
	Source       string `json:"source"`
	Email        string `json:"email"`
	Token        string `json:"token"`
	IDToken      string `json:"id_token"`
	IDTokenError string `json:"id_token_error"`
	Error        string `json:"error"`
}

// peers are the clients each check runs.
var peers = []struct {
	name string
	run  func(t *testing.T, addr, source, audience string) podResult
}{
	{"python google-auth", runPython},
	{"node google-auth-library", runNode},
}

// eachPeer runs every client as a pod at source and hands check its result.
func eachPeer(t *testing.T, addr, source, audience string, check func(t *testing.T, r podResult)) {
	t.Helper()
	for _, p := range peers {
		t.Run(p.name+" in a pod at "+source, func(t *testing.T) {
			r := p.run(t, addr, source, audience)
			r.Client = p.name
			if r.Error != "" || r.IDTokenError != "" {
				t.Logf("the client reports: error %q, ID token error %q", r.Error, r.IDTokenError)
			}
			check(t, r)
		})
	}
}

// peerEnv is a pod's whole environment: the metadata server's address
// under the variables Google's libraries read, and nothing of the
// developer's (no ADC file, no gcloud configuration, no proxy).
func peerEnv(t *testing.T, addr string, extra ...string) []string {
	home := t.TempDir()
	return append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + home, "LANG=C.UTF-8",
		"GCE_METADATA_HOST=" + addr, "GCE_METADATA_IP=" + addr, "GCE_METADATA_ROOT=" + addr,
	}, extra...)
}

// requirePeer skips a test whose client is not installed, except under
// CI=true, where that is a failure.
func requirePeer(t *testing.T, missing string) {
	t.Helper()
	if missing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a missing client is a failure)", missing)
	}
	t.Skip(missing)
}

// pythonPath finds the Python bundled with the Google Cloud CLI and its
// google-auth (crosscheck/ does the same).
func pythonPath() (python, thirdParty, missing string) {
	for _, root := range []string{"/usr/lib/google-cloud-sdk", "/usr/share/google-cloud-sdk", "/google-cloud-sdk"} {
		py := filepath.Join(root, "platform", "bundledpythonunix", "bin", "python3")
		if _, err := os.Stat(py); err == nil {
			return py, filepath.Join(root, "lib", "third_party"), ""
		}
	}
	return "", "", "the Google Cloud CLI's bundled Python is not installed (apt-get install google-cloud-cli)"
}

func runPython(t *testing.T, addr, source, audience string) podResult {
	py, thirdParty, missing := pythonPath()
	requirePeer(t, missing)
	env := peerEnv(t, addr, "PYTHONPATH="+thirdParty, "PYTHONDONTWRITEBYTECODE=1", "PYTHONNOUSERSITE=1")
	return runPeer(t, env, source, audience, py, "testdata/pod.py")
}

func runNode(t *testing.T, addr, source, audience string) podResult {
	nodeModules, err := filepath.Abs(filepath.Join("..", "..", "crosscheck", "node", "node_modules"))
	must(t, err)
	missing := ""
	node, err := exec.LookPath("node")
	if err != nil {
		missing = "node is not on PATH"
	} else if _, err := os.Stat(filepath.Join(nodeModules, "google-auth-library")); err != nil {
		missing = "google-auth-library is not installed: run `make deps` (crosscheck/node)"
	}
	requirePeer(t, missing)
	// GOOGLE_CLOUD_PROJECT, as in crosscheck/: without it GoogleAuth's
	// project lookup spawns gcloud first, seconds per pod on a busy machine.
	env := peerEnv(t, addr, "NODE_PATH="+nodeModules, "GOOGLE_CLOUD_PROJECT="+fakegoogle.DefaultProjectID)
	return runPeer(t, env, source, audience, node, "testdata/pod.js")
}

func runPeer(t *testing.T, env []string, source, audience, name string, args ...string) podResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	in, _ := json.Marshal(map[string]string{"source": source, "audience": audience})
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	var r podResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("%s: output is not JSON: %v\n%s\nstderr:\n%s", name, err, stdout.String(), stderr.String())
	}
	return r
}

var metav1CreateOptions = metav1.CreateOptions{}

func serviceAccountObject(name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
}
