package deploy

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in rendered/")

// kustomizations are the directories a user applies, each rendered to
// rendered/<dir with / as ->.yaml.
var kustomizations = []string{
	"overlays/keyfile",
	"overlays/workload-identity",
	"overlays/kubernetes",
	"examples/proxy-sidecar",
}

func goldenPath(dir string) string {
	return filepath.Join("rendered", strings.ReplaceAll(dir, "/", "-")+".yaml")
}

// render runs kustomize on dir, as `kubectl kustomize dir` would.
func render(t *testing.T, dir string) []byte {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	return out
}

func TestRendered(t *testing.T) {
	t.Parallel()
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			got := render(t, dir)
			path := goldenPath(dir)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run: go test ./deploy -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("kustomize %s differs from %s: re-render with `make manifests UPDATE=1` and review the diff", dir, path)
			}
		})
	}
}

// objects splits a multi-document YAML stream into objects.
func objects(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatalf("decode rendered YAML: %v", err)
		}
		out = append(out, m)
	}
	return out
}

// dig walks nested maps along keys.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// TestHardening checks, on the rendered output, the promises the manifests
// make for every pod: non-root with a RuntimeDefault seccomp profile,
// read-only root filesystem, no capabilities, no privilege escalation, a
// memory limit, and probes on /healthz (liveness) that hit a port the
// container listens on; and for the metadata server, scrape annotations
// and a NetworkPolicy selecting it.
func TestHardening(t *testing.T) {
	t.Parallel()
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			objs := objects(t, render(t, dir))
			var pods, policies int
			var selectors []map[string]any
			for _, o := range objs {
				if o["kind"] == "NetworkPolicy" {
					policies++
					if sel, ok := dig(o, "spec", "podSelector", "matchLabels").(map[string]any); ok {
						selectors = append(selectors, sel)
					}
				}
			}
			for _, o := range objs {
				kind, name := o["kind"], dig(o, "metadata", "name")
				if kind != "DaemonSet" && kind != "Deployment" {
					continue
				}
				pods++
				tmpl := dig(o, "spec", "template")
				spec := dig(tmpl, "spec")
				if dig(spec, "securityContext", "runAsNonRoot") != true {
					t.Errorf("%s %s: pod securityContext.runAsNonRoot is not true", kind, name)
				}
				if dig(spec, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
					t.Errorf("%s %s: pod seccompProfile is not RuntimeDefault", kind, name)
				}
				if dig(spec, "hostNetwork") == true {
					t.Errorf("%s %s: hostNetwork is set; the design uses hostPort (docs/kubernetes.md)", kind, name)
				}
				var gcptoken int
				for _, c := range append(list(dig(spec, "initContainers")), list(dig(spec, "containers"))...) {
					cname := dig(c, "name")
					sc := dig(c, "securityContext")
					if dig(sc, "readOnlyRootFilesystem") != true || dig(sc, "allowPrivilegeEscalation") != false {
						t.Errorf("%s %s container %s: want readOnlyRootFilesystem true and allowPrivilegeEscalation false", kind, name, cname)
					}
					if drop := list(dig(sc, "capabilities", "drop")); len(drop) != 1 || drop[0] != "ALL" {
						t.Errorf("%s %s container %s: got capabilities.drop %v; want [ALL]", kind, name, cname, drop)
					}
					if dig(c, "resources", "limits", "memory") == nil || dig(c, "resources", "requests", "cpu") == nil {
						t.Errorf("%s %s container %s: want a memory limit and a CPU request", kind, name, cname)
					}
					if dig(c, "image") != "gcptoken:dev" {
						continue
					}
					gcptoken++
					checkProbes(t, fmt.Sprintf("%s %s container %s", kind, name, cname), c)
					if kind == "DaemonSet" {
						ann, _ := dig(tmpl, "metadata", "annotations").(map[string]any)
						port := listenPort(c, "--listen=")
						if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != port || ann["prometheus.io/path"] != "/metrics" {
							t.Errorf("%s %s: got scrape annotations %v; want scrape on port %s path /metrics", kind, name, ann, port)
						}
					}
				}
				if gcptoken == 0 {
					t.Errorf("%s %s: no gcptoken:dev container", kind, name)
				}
				if kind == "DaemonSet" {
					labels, _ := dig(tmpl, "metadata", "labels").(map[string]any)
					if !selectedBy(labels, selectors) {
						t.Errorf("%s %s: no NetworkPolicy selects its pods (labels %v)", kind, name, labels)
					}
				}
			}
			if pods == 0 {
				t.Fatalf("%s renders no DaemonSet or Deployment", dir)
			}
			if strings.HasPrefix(dir, "overlays/") && policies == 0 {
				t.Errorf("%s renders no NetworkPolicy", dir)
			}
		})
	}
}

// tokenPath is the metadata server's default access token, a readiness
// check that a token can be had.
const tokenPath = "/computeMetadata/v1/instance/service-accounts/default/token"

// checkProbes: liveness on /healthz, readiness on /healthz, /readyz or the
// token path, both
// on a named port whose containerPort is the one the container's
// --listen (metadata server) or --ops-listen (proxy) flag binds.
func checkProbes(t *testing.T, what string, c any) {
	t.Helper()
	port := listenPort(c, "--ops-listen=")
	if port == "" {
		port = listenPort(c, "--listen=")
	}
	ports := map[any]string{}
	for _, p := range list(dig(c, "ports")) {
		ports[dig(p, "name")] = jsonNumber(dig(p, "containerPort"))
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		path := dig(c, probe, "httpGet", "path")
		switch {
		case path == nil:
			t.Errorf("%s: no %s", what, probe)
			continue
		case probe == "livenessProbe" && path != "/healthz":
			t.Errorf("%s: got liveness path %v; want /healthz", what, path)
		case path != "/healthz" && path != "/readyz" && path != tokenPath:
			t.Errorf("%s: got readiness path %v; want /healthz, /readyz or the token path", what, path)
		}
		if got := ports[dig(c, probe, "httpGet", "port")]; got != port || port == "" {
			t.Errorf("%s: %s probes port %q; want the listen port %q", what, probe, got, port)
		}
	}
}

// listenPort is the port of the container's flag (e.g. "--listen="), or "".
func listenPort(c any, flag string) string {
	for _, a := range list(dig(c, "args")) {
		if s, ok := a.(string); ok && strings.HasPrefix(s, flag) {
			if i := strings.LastIndexByte(s, ':'); i >= 0 {
				return s[i+1:]
			}
		}
	}
	return ""
}

// jsonNumber formats a decoded YAML number (a float64) as a port string.
func jsonNumber(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return ""
}

func selectedBy(labels map[string]any, selectors []map[string]any) bool {
	for _, sel := range selectors {
		ok := len(sel) > 0
		for k, v := range sel {
			if labels[k] != v {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}
