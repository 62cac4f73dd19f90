package deploy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/cli"
)

// TestManifestsRun starts, in-process, each gcptoken container of the
// rendered manifests with the arguments and environment the manifests give
// it, and probes the endpoints the manifests probe. Only what a test
// machine cannot have is swapped, each swap checked against the manifests:
// listen addresses become 127.0.0.1:0; the key file is a fakegoogle key at
// the path the Secret is mounted at; the node's hostPort is the address the
// DaemonSet's server got; GKE's metadata server (workload identity) is the
// keyfile server; the Cloud Run target is fakegoogle's sample service. So a
// flag the CLI does not know, a ConfigMap key that does not exist, an
// environment reference that does not resolve or a probe on a path the
// server does not serve fails here, before a cluster sees it.
func TestManifestsRun(t *testing.T) {
	t.Parallel()
	fake, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	key, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}

	// The keyfile overlay's DaemonSet: the node's metadata server.
	ds := container(t, "overlays/keyfile", "DaemonSet", "metadata-server")
	hostPort := portOf(t, ds, "hostPort")
	mountedKey := ""
	for _, a := range ds.args {
		if v, ok := strings.CutPrefix(a, "--credentials="); ok {
			mountedKey = v
		}
	}
	if mountedKey == "" || !ds.mountedFromSecret(path.Dir(mountedKey), "gcptoken-key") {
		t.Fatalf("the keyfile DaemonSet's --credentials %q is not in a volume from the Secret gcptoken-key", mountedKey)
	}
	mds := ds.start(t, map[string]string{mountedKey: keyFile}, nil, "listening on http://")
	mds.probe(t, ds)
	mds.token(t)

	t.Run("workload identity", func(t *testing.T) {
		wi := container(t, "overlays/workload-identity", "DaemonSet", "metadata-server")
		// On GKE, ADC inside the pod is GKE's metadata server; here, the
		// keyfile server stands in for it.
		s := wi.start(t, nil, map[string]string{"GCE_METADATA_HOST": mds.addr}, "listening on http://")
		s.probe(t, wi)
		s.token(t)
	})

	t.Run("proxy sidecar", func(t *testing.T) {
		px := container(t, "examples/proxy-sidecar", "Deployment", "token-proxy")
		var target string
		for _, a := range px.args {
			if v, ok := strings.CutPrefix(a, "--target="); ok {
				target = v
			}
		}
		// The sidecar reaches the node's server at $(HOST_IP):<hostPort>.
		s := px.start(t, map[string]string{
			target:                  fake.SampleServiceURL(),
			"127.0.0.1:" + hostPort: mds.addr,
		}, nil, "Ops: http://")
		s.probe(t, px)
	})
}

// manifestContainer is one container of a rendered manifest, with what a
// test needs to run it.
type manifestContainer struct {
	name   string
	args   []string
	env    []any
	c      any            // the container object
	pod    any            // the pod spec
	config map[string]any // ConfigMaps of the rendering, by name
}

func container(t *testing.T, dir, kind, name string) *manifestContainer {
	t.Helper()
	objs := objects(t, render(t, dir))
	configs := map[string]any{}
	for _, o := range objs {
		if o["kind"] == "ConfigMap" {
			configs[dig(o, "metadata", "name").(string)] = dig(o, "data")
		}
	}
	for _, o := range objs {
		if o["kind"] != kind {
			continue
		}
		spec := dig(o, "spec", "template", "spec")
		for _, c := range append(list(dig(spec, "initContainers")), list(dig(spec, "containers"))...) {
			if dig(c, "name") != name {
				continue
			}
			mc := &manifestContainer{name: name, env: list(dig(c, "env")), c: c, pod: spec, config: configs}
			for _, a := range list(dig(c, "args")) {
				mc.args = append(mc.args, a.(string))
			}
			return mc
		}
	}
	t.Fatalf("%s renders no %s with a container %q", dir, kind, name)
	return nil
}

func portOf(t *testing.T, c *manifestContainer, field string) string {
	t.Helper()
	for _, p := range list(dig(c.c, "ports")) {
		if v := jsonNumber(dig(p, field)); v != "" {
			return v
		}
	}
	t.Fatalf("container %s has no port with %s", c.name, field)
	return ""
}

// mountedFromSecret reports whether dir is the mount path of a volume made
// from the Secret.
func (c *manifestContainer) mountedFromSecret(dir, secret string) bool {
	for _, m := range list(dig(c.c, "volumeMounts")) {
		if dig(m, "mountPath") != dir {
			continue
		}
		for _, v := range list(dig(c.pod, "volumes")) {
			if dig(v, "name") == dig(m, "name") && dig(v, "secret", "secretName") == secret {
				return true
			}
		}
	}
	return false
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// environment resolves the container's env as the kubelet would (on node
// "node-1" with address 127.0.0.1), then applies swaps to the values.
func (c *manifestContainer) environment(t *testing.T, swaps map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.env {
		name := dig(e, "name").(string)
		var v string
		switch {
		case dig(e, "value") != nil:
			v = envRef.ReplaceAllStringFunc(dig(e, "value").(string), func(ref string) string {
				r, ok := env[ref[2:len(ref)-1]]
				if !ok {
					t.Errorf("container %s: env %s refers to %s, which is not defined before it", c.name, name, ref)
				}
				return r
			})
		case dig(e, "valueFrom", "fieldRef") != nil:
			switch f := dig(e, "valueFrom", "fieldRef", "fieldPath"); f {
			case "spec.nodeName":
				v = "node-1"
			case "status.hostIP":
				v = "127.0.0.1"
			default:
				t.Fatalf("container %s: env %s: fieldRef %v not modelled by this test", c.name, name, f)
			}
		case dig(e, "valueFrom", "configMapKeyRef") != nil:
			ref := dig(e, "valueFrom", "configMapKeyRef")
			val, ok := dig(c.config[dig(ref, "name").(string)], dig(ref, "key").(string)).(string)
			if !ok {
				t.Fatalf("container %s: env %s: ConfigMap %v has no key %v in the rendering", c.name, name, dig(ref, "name"), dig(ref, "key"))
			}
			v = val
		case dig(e, "valueFrom", "resourceFieldRef") != nil:
			res := strings.Split(dig(e, "valueFrom", "resourceFieldRef", "resource").(string), ".")
			q, ok := dig(c.c, append([]string{"resources"}, res...)...).(string)
			if !ok {
				t.Fatalf("container %s: env %s: resource %v is not set", c.name, name, res)
			}
			v = quantityBytes(t, q)
		default:
			t.Fatalf("container %s: env %s has no value this test understands", c.name, name)
		}
		if s, ok := swaps[v]; ok {
			v = s
		}
		env[name] = v
	}
	return env
}

func quantityBytes(t *testing.T, q string) string {
	t.Helper()
	for suffix, mul := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if n, ok := strings.CutSuffix(q, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				t.Fatalf("quantity %q: %v", q, err)
			}
			return strconv.FormatInt(v*mul, 10)
		}
	}
	t.Fatalf("quantity %q not modelled by this test", q)
	return ""
}

// running is a gcptoken command started by start.
type running struct {
	addr string // from the readiness line
}

// syncBuffer is a bytes.Buffer safe for the command's and the test's
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listenFlag = regexp.MustCompile(`^(--(?:ops-)?listen=)(.*)$`)

// start runs the container's command line in-process: args with $(VAR)
// expanded from its env, every --listen/--ops-listen on 127.0.0.1:0, swaps
// applied to args and env values; extra is added to the environment. It
// waits for the line starting with ready and returns the address after it;
// the command stops when the test ends, and must exit 0.
func (c *manifestContainer) start(t *testing.T, swaps, extra map[string]string, ready string) *running {
	t.Helper()
	env := c.environment(t, swaps)
	for k, v := range extra {
		env[k] = v
	}
	env["HOME"] = t.TempDir() // nothing from this machine's gcloud
	var args []string
	for _, a := range c.args {
		a = envRef.ReplaceAllStringFunc(a, func(ref string) string {
			v, ok := env[ref[2:len(ref)-1]]
			if !ok {
				t.Errorf("container %s: argument %q refers to %s, which its env does not define", c.name, a, ref)
			}
			return v
		})
		if m := listenFlag.FindStringSubmatch(a); m != nil {
			a = m[1] + "127.0.0.1:0"
		} else if k, v, ok := strings.Cut(a, "="); ok && swaps[v] != "" {
			a = k + "=" + swaps[v]
		}
		args = append(args, a)
	}
	var out, errOut syncBuffer
	app := &cli.App{Out: &out, Err: &errOut, Getenv: func(k string) string { return env[k] }, Now: time.Now}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- cli.Run(ctx, app, args) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("gcptoken %s exited %d after the test stopped it; want 0 (stderr: %s)", strings.Join(args, " "), code, errOut.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("gcptoken %s exited %d at start: %s", strings.Join(args, " "), code, errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
		for _, line := range strings.Split(out.String(), "\n") {
			if i := strings.Index(line, ready); i >= 0 {
				addr := strings.Fields(line[i+len(ready):])[0]
				addr = strings.TrimSuffix(addr, "/healthz")
				if _, _, err := net.SplitHostPort(addr); err == nil {
					return &running{addr: addr}
				}
			}
		}
	}
	t.Fatalf("gcptoken %s printed no %q line within 20s: %s %s", strings.Join(args, " "), ready, out.String(), errOut.String())
	return nil
}

// probe sends the container's liveness, readiness and startup probes as
// the kubelet would (with the probe's headers only) and wants 200.
func (r *running) probe(t *testing.T, c *manifestContainer) {
	t.Helper()
	n := 0
	for _, probe := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
		p, ok := dig(c.c, probe, "httpGet", "path").(string)
		if !ok {
			continue
		}
		n++
		h := http.Header{}
		for _, hh := range list(dig(c.c, probe, "httpGet", "httpHeaders")) {
			h.Add(dig(hh, "name").(string), dig(hh, "value").(string))
		}
		code, body := httpGet(t, "http://"+r.addr+p, h)
		if code != http.StatusOK {
			t.Errorf("container %s: %s GET %s: got %d %q; want 200", c.name, probe, p, code, truncate(body))
		}
	}
	if n < 2 {
		t.Errorf("container %s: got %d HTTP probes; want liveness and readiness", c.name, n)
	}
}

// token asks the metadata server for an access token, as a client would.
func (r *running) token(t *testing.T) {
	t.Helper()
	code, body := httpGet(t, "http://"+r.addr+"/computeMetadata/v1/instance/service-accounts/default/token", http.Header{"Metadata-Flavor": {"Google"}})
	if code != http.StatusOK || !strings.Contains(body, `"access_token"`) {
		t.Errorf("token: got %d %q; want 200 with an access token", code, truncate(body))
	}
}

func httpGet(t *testing.T, url string, h http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	return res.StatusCode, string(b)
}

func truncate(s string) string {
	if len(s) > 80 {
		return fmt.Sprintf("%s… (%d bytes)", s[:80], len(s))
	}
	return s
}
