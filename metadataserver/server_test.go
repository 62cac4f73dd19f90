package metadataserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const v1Path = "/computeMetadata/v1/"

func TestPaths(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestServer(t, nil)
	noFlavor := http.Header{}
	tests := []struct {
		name     string
		method   string
		target   string
		header   http.Header // default: Metadata-Flavor: Google
		code     int
		body     string // exact, unless contains is set
		contains string
		ctype    string
		location string
	}{
		{name: "root without flavor (Go's probe)", target: "/", header: noFlavor, code: 200, body: "computeMetadata/\n", ctype: ctText},
		{name: "root with flavor", target: "/", code: 200, body: "computeMetadata/\n", ctype: ctText},
		{name: "computeMetadata listing", target: "/computeMetadata/", code: 200, body: "v1/\n", ctype: ctText},
		{name: "v1 listing", target: v1Path, code: 200, body: "instance/\nproject/\nuniverse/\n", ctype: ctText},
		{name: "missing flavor", target: v1Path + "project/project-id", header: noFlavor, code: 403,
			body: "Missing required header \"Metadata-Flavor\": \"Google\"\n"},
		{name: "wrong flavor", target: v1Path + "project/project-id", header: http.Header{"Metadata-Flavor": {"google"}}, code: 403,
			contains: "Missing required header"},
		{name: "legacy header is not enough", target: v1Path + "project/project-id", header: http.Header{"X-Google-Metadata-Request": {"True"}}, code: 403,
			contains: "Missing required header"},
		{name: "X-Forwarded-For", target: v1Path + "project/project-id",
			header: http.Header{"Metadata-Flavor": {"Google"}, "X-Forwarded-For": {"10.0.0.1"}}, code: 403, contains: "X-Forwarded-For"},
		{name: "X-Forwarded-For on root", target: "/", header: http.Header{"X-Forwarded-For": {""}}, code: 403, contains: "X-Forwarded-For"},
		{name: "X-Forwarded-For on token", target: v1Path + "instance/service-accounts/default/token",
			header: http.Header{"Metadata-Flavor": {"Google"}, "X-Forwarded-For": {"1.2.3.4"}}, code: 403, contains: "X-Forwarded-For"},
		{name: "project-id", target: v1Path + "project/project-id", code: 200, body: testProject, ctype: ctText},
		{name: "numeric-project-id", target: v1Path + "project/numeric-project-id", code: 200, body: testNumber, ctype: ctText},
		{name: "project attributes listing", target: v1Path + "project/attributes/", code: 200, body: "team\n"},
		{name: "project attribute", target: v1Path + "project/attributes/team", code: 200, body: "auth"},
		{name: "unknown project attribute", target: v1Path + "project/attributes/nope", code: 404, contains: "Error 404 (Not Found)!!1"},
		{name: "project listing", target: v1Path + "project/", code: 200, body: "attributes/\nnumeric-project-id\nproject-id\n"},
		{name: "instance listing", target: v1Path + "instance/", code: 200,
			body: "attributes/\ncpu-platform\ndescription\ndisks/\nhostname\nid\nimage\nlicenses/\nmachine-type\n" +
				"maintenance-event\nname\nnetwork-interfaces/\npreempted\nremaining-cpu-time\nscheduling/\n" +
				"service-accounts/\ntags\nvirtual-clock/\nzone\n"},
		{name: "machine-type", target: v1Path + "instance/machine-type", code: 200, body: "projects/" + testNumber + "/machineTypes/n2-standard-4"},
		{name: "image", target: v1Path + "instance/image", code: 200, body: "projects/debian-cloud/global/images/debian-12-bookworm-v20250101"},
		{name: "cpu-platform", target: v1Path + "instance/cpu-platform", code: 200, body: "Intel Broadwell"},
		{name: "description", target: v1Path + "instance/description", code: 200, body: "test vm"},
		{name: "tags (a JSON array, also as text)", target: v1Path + "instance/tags", code: 200, body: `["http-server","ssh"]`, ctype: ctText},
		{name: "tags alt=json", target: v1Path + "instance/tags?alt=json", code: 200, body: `["http-server","ssh"]`, ctype: ctJSON},
		{name: "maintenance-event", target: v1Path + "instance/maintenance-event", code: 200, body: "NONE"},
		{name: "preempted", target: v1Path + "instance/preempted", code: 200, body: "FALSE"},
		{name: "scheduling", target: v1Path + "instance/scheduling/", code: 200, body: "automatic-restart\non-host-maintenance\npreemptible\n"},
		{name: "licenses", target: v1Path + "instance/licenses/", code: 200, body: "0/\n1/\n"},
		{name: "license id", target: v1Path + "instance/licenses/1/id", code: 200, body: "222"},
		{name: "disk", target: v1Path + "instance/disks/0/device-name", code: 200, body: "persistent-disk-0"},
		{name: "network interfaces", target: v1Path + "instance/network-interfaces/", code: 200, body: "0/\n"},
		{name: "network interface listing", target: v1Path + "instance/network-interfaces/0/", code: 200,
			body: "access-configs/\ndns-servers\nforwarded-ips/\ngateway\nip\nip-aliases/\nmac\nmtu\nnetwork\nsubnetmask\ntarget-instance-ips/\n"},
		{name: "internal ip", target: v1Path + "instance/network-interfaces/0/ip", code: 200, body: "10.1.2.3"},
		{name: "mac from the ip", target: v1Path + "instance/network-interfaces/0/mac", code: 200, body: "42:01:0a:01:02:03"},
		{name: "gateway of the /20", target: v1Path + "instance/network-interfaces/0/gateway", code: 200, body: "10.1.0.1"},
		{name: "subnetmask", target: v1Path + "instance/network-interfaces/0/subnetmask", code: 200, body: "255.255.240.0"},
		{name: "network", target: v1Path + "instance/network-interfaces/0/network", code: 200, body: "projects/" + testNumber + "/networks/default"},
		{name: "external ip", target: v1Path + "instance/network-interfaces/0/access-configs/0/external-ip", code: 200, body: "203.0.113.9"},
		{name: "access config type", target: v1Path + "instance/network-interfaces/0/access-configs/0/type", code: 200, body: "ONE_TO_ONE_NAT"},
		{name: "empty array directory", target: v1Path + "instance/network-interfaces/0/forwarded-ips/", code: 200, body: ""},
		{name: "no second interface", target: v1Path + "instance/network-interfaces/1/ip", code: 404, contains: "Error 404"},
		{name: "numbered directory without slash", target: v1Path + "instance/network-interfaces/0", code: 301,
			location: v1Path + "instance/network-interfaces/0/"},
		{name: "instance id", target: v1Path + "instance/id", code: 200, body: "1234567890123456789"},
		{name: "instance name", target: v1Path + "instance/name", code: 200, body: "vm-1"},
		{name: "zone", target: v1Path + "instance/zone", code: 200, body: "projects/" + testNumber + "/zones/us-central1-a"},
		{name: "hostname", target: v1Path + "instance/hostname", code: 200, body: "vm-1.c." + testProject + ".internal"},
		{name: "instance attributes", target: v1Path + "instance/attributes/", code: 200, body: "env\nssh-keys\n"},
		{name: "instance attribute", target: v1Path + "instance/attributes/ssh-keys", code: 200, body: "k1"},
		{name: "universe", target: v1Path + "universe/universe-domain", code: 200, body: "googleapis.com"},
		{name: "universe listing", target: v1Path + "universe/", code: 200, body: "universe-domain\n"},
		{name: "service accounts", target: v1Path + "instance/service-accounts/", code: 200,
			body: "default/\n" + testEmail + "/\n"},
		{name: "account listing", target: v1Path + "instance/service-accounts/default/", code: 200,
			body: "aliases\nemail\nidentity\nscopes\ntoken\n"},
		{name: "email", target: v1Path + "instance/service-accounts/default/email", code: 200, body: testEmail, ctype: ctText},
		{name: "email by name", target: v1Path + "instance/service-accounts/" + testEmail + "/email", code: 200, body: testEmail},
		{name: "scopes", target: v1Path + "instance/service-accounts/default/scopes", code: 200,
			body: "https://www.googleapis.com/auth/cloud-platform\nhttps://www.googleapis.com/auth/userinfo.email\n"},
		{name: "aliases", target: v1Path + "instance/service-accounts/default/aliases", code: 200, body: "default\n"},
		{name: "alt=json string", target: v1Path + "project/project-id?alt=json", code: 200, body: `"` + testProject + `"`, ctype: ctJSON},
		{name: "alt=json number", target: v1Path + "project/numeric-project-id?alt=json", code: 200, body: testNumber, ctype: ctJSON},
		{name: "alt=json list", target: v1Path + "instance/service-accounts/default/scopes?alt=json", code: 200,
			body: `["https://www.googleapis.com/auth/cloud-platform","https://www.googleapis.com/auth/userinfo.email"]`, ctype: ctJSON},
		{name: "alt=text", target: v1Path + "project/project-id?alt=text", code: 200, body: testProject, ctype: ctText},
		{name: "alt=json directory", target: v1Path + "project/?alt=json", code: 200,
			body: `["attributes/","numeric-project-id","project-id"]`, ctype: ctJSON},
		{name: "bad alt", target: v1Path + "project/project-id?alt=xml", code: 400, contains: "alt"},
		{name: "unknown path", target: v1Path + "instance/nope", code: 404, contains: "<title>Error 404 (Not Found)!!1</title>",
			ctype: "text/html; charset=UTF-8"},
		{name: "404 escapes the path", target: v1Path + "instance/%3Cscript%3E", code: 404, contains: "&lt;script&gt;"},
		{name: "path outside computeMetadata", target: "/latest/meta-data/", header: noFlavor, code: 404, contains: "Error 404"},
		{name: "v1beta1 is not served", target: "/computeMetadata/v1beta1/", code: 404, contains: "Error 404"},
		{name: "leaf with slash", target: v1Path + "project/project-id/", code: 404, contains: "Error 404"},
		{name: "unknown account", target: v1Path + "instance/service-accounts/other@x.iam.gserviceaccount.com/token", code: 404,
			contains: "Error 404"},
		{name: "unknown account listing", target: v1Path + "instance/service-accounts/other@x.iam.gserviceaccount.com/", code: 404},
		{name: "directory without slash (Node's probe)", target: v1Path + "instance", code: 301, location: v1Path + "instance/"},
		{name: "redirect keeps the query", target: v1Path + "project?recursive=true", code: 301, location: v1Path + "project/?recursive=true"},
		{name: "account without slash", target: v1Path + "instance/service-accounts/default", code: 301,
			location: v1Path + "instance/service-accounts/default/"},
		{name: "v1 without slash", target: "/computeMetadata/v1", code: 301, location: v1Path},
		{name: "computeMetadata without slash", target: "/computeMetadata", code: 301, location: "/computeMetadata/"},
		{name: "redirect needs flavor too", target: v1Path + "instance", header: noFlavor, code: 403},
		{name: "POST", method: http.MethodPost, target: v1Path + "project/project-id", code: 405},
		{name: "PUT token", method: http.MethodPut, target: v1Path + "instance/service-accounts/default/token", code: 405},
		{name: "HEAD", method: http.MethodHead, target: v1Path + "project/project-id", code: 200},
		{name: "healthz without flavor", target: "/healthz", header: noFlavor, code: 200, body: "ok\n"},
		{name: "metrics without flavor", target: "/metrics", header: noFlavor, code: 200, contains: "# TYPE gcptoken_metadataserver_requests_total counter"},
		{name: "POST healthz", method: http.MethodPost, target: "/healthz", code: 405},
	}
	etagRE := regexp.MustCompile(`^[0-9a-f]{16}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.header
			if h == nil {
				h = http.Header{"Metadata-Flavor": {"Google"}}
			}
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			w := do(s, method, tt.target, h)
			if w.Code != tt.code {
				t.Errorf("got status = %d; want %d (body %q)", w.Code, tt.code, w.Body.String())
			}
			body := w.Body.String()
			switch {
			case tt.contains != "" && !strings.Contains(body, tt.contains):
				t.Errorf("got body = %q; want it to contain %q", body, tt.contains)
			case tt.contains == "" && tt.body != "" && body != tt.body:
				t.Errorf("got body = %q; want %q", body, tt.body)
			}
			for k, want := range map[string]string{
				"Metadata-Flavor": "Google", "Server": "Metadata Server for VM",
				"X-XSS-Protection": "0", "X-Frame-Options": "SAMEORIGIN",
			} {
				if got := w.Header().Get(k); got != want {
					t.Errorf("got %s = %q; want %q", k, got, want)
				}
			}
			if w.Header().Get("Content-Type") == "" {
				t.Errorf("got no Content-Type; want one (Python requires it)")
			}
			if tt.ctype != "" {
				if got := w.Header().Get("Content-Type"); got != tt.ctype {
					t.Errorf("got Content-Type = %q; want %q", got, tt.ctype)
				}
			}
			if tt.location != "" {
				if got := w.Header().Get("Location"); got != tt.location {
					t.Errorf("got Location = %q; want %q", got, tt.location)
				}
			}
			if tt.code == 200 && strings.HasPrefix(tt.target, v1Path) {
				if got := w.Header().Get("ETag"); !etagRE.MatchString(got) {
					t.Errorf("got ETag = %q; want 16 hex digits", got)
				}
			}
		})
	}
}

func TestRecursive(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestServer(t, nil)
	scopes := []any{"https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/userinfo.email"}
	account := map[string]any{"aliases": []any{"default"}, "email": testEmail, "scopes": scopes}
	tests := []struct {
		name, target string
		want         any // decoded JSON with numbers as json.Number
	}{
		{"account", "instance/service-accounts/default/?recursive=true", account},
		{"account by email", "instance/service-accounts/" + testEmail + "/?recursive=true", account},
		{"accounts", "instance/service-accounts/?recursive=true", map[string]any{"default": account, testEmail: account}},
		{"project", "project/?recursive=true", map[string]any{
			"attributes": map[string]any{"team": "auth"}, "numericProjectId": json.Number(testNumber), "projectId": testProject,
		}},
		{"project alt=json", "project/?recursive=true&alt=json", map[string]any{
			"attributes": map[string]any{"team": "auth"}, "numericProjectId": json.Number(testNumber), "projectId": testProject,
		}},
		{"universe", "universe/?recursive=true", map[string]any{"universeDomain": "googleapis.com"}},
		{"instance", "instance/?recursive=true", map[string]any{
			"attributes":  map[string]any{"env": "dev", "ssh-keys": "k1"},
			"cpuPlatform": "Intel Broadwell",
			"description": "test vm",
			"disks": []any{map[string]any{"deviceName": "persistent-disk-0", "index": json.Number("0"), "interface": "SCSI",
				"mode": "READ_WRITE", "type": "PERSISTENT-BALANCED"}},
			"hostname":         "vm-1.c." + testProject + ".internal",
			"id":               json.Number("1234567890123456789"),
			"image":            "projects/debian-cloud/global/images/debian-12-bookworm-v20250101",
			"licenses":         []any{map[string]any{"id": "111"}, map[string]any{"id": "222"}},
			"machineType":      "projects/" + testNumber + "/machineTypes/n2-standard-4",
			"maintenanceEvent": "NONE",
			"name":             "vm-1",
			"networkInterfaces": []any{map[string]any{
				"accessConfigs": []any{map[string]any{"externalIp": "203.0.113.9", "type": "ONE_TO_ONE_NAT"}},
				"dnsServers":    []any{"169.254.169.254"}, "forwardedIps": []any{}, "gateway": "10.1.0.1", "ip": "10.1.2.3",
				"ipAliases": []any{}, "mac": "42:01:0a:01:02:03", "mtu": json.Number("1460"),
				"network": "projects/" + testNumber + "/networks/default", "subnetmask": "255.255.240.0", "targetInstanceIps": []any{},
			}},
			"preempted":        "FALSE",
			"remainingCpuTime": json.Number("-1"),
			"scheduling":       map[string]any{"automaticRestart": "TRUE", "onHostMaintenance": "MIGRATE", "preemptible": "FALSE"},
			"serviceAccounts":  map[string]any{"default": account, testEmail: account},
			"tags":             []any{"http-server", "ssh"},
			"virtualClock":     map[string]any{"driftToken": "0"},
			"zone":             "projects/" + testNumber + "/zones/us-central1-a",
		}},
		{"network interfaces", "instance/network-interfaces/?recursive=true&alt=json", []any{map[string]any{
			"accessConfigs": []any{map[string]any{"externalIp": "203.0.113.9", "type": "ONE_TO_ONE_NAT"}},
			"dnsServers":    []any{"169.254.169.254"}, "forwardedIps": []any{}, "gateway": "10.1.0.1", "ip": "10.1.2.3",
			"ipAliases": []any{}, "mac": "42:01:0a:01:02:03", "mtu": json.Number("1460"),
			"network": "projects/" + testNumber + "/networks/default", "subnetmask": "255.255.240.0", "targetInstanceIps": []any{},
		}}},
		{"recursive on a leaf is the leaf", "project/project-id?recursive=true", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := get(s, v1Path+tt.target)
			if w.Code != 200 {
				t.Fatalf("got status = %d; want 200", w.Code)
			}
			if tt.want == nil {
				if got := w.Body.String(); got != testProject {
					t.Errorf("got body = %q; want %q", got, testProject)
				}
				return
			}
			if got := w.Header().Get("Content-Type"); got != ctJSON {
				t.Errorf("got Content-Type = %q; want %q", got, ctJSON)
			}
			dec := json.NewDecoder(w.Body)
			dec.UseNumber()
			var got any
			if err := dec.Decode(&got); err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tt.want)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("got %s; want %s", gotJSON, wantJSON)
			}
		})
	}

	t.Run("root has every tree", func(t *testing.T) {
		t.Parallel()
		var got map[string]any
		if err := json.Unmarshal(get(s, v1Path+"?recursive=true").Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"instance", "project", "universe"} {
			if _, ok := got[k]; !ok {
				t.Errorf("got keys %v; want %q among them", got, k)
			}
		}
	})
	t.Run("alt=text", func(t *testing.T) {
		t.Parallel()
		w := get(s, v1Path+"project/?recursive=true&alt=text")
		want := "attributes/team auth\nnumeric-project-id " + testNumber + "\nproject-id " + testProject + "\n"
		if got := w.Body.String(); got != want {
			t.Errorf("got body = %q; want %q", got, want)
		}
		if got := w.Header().Get("Content-Type"); got != ctText {
			t.Errorf("got Content-Type = %q; want %q", got, ctText)
		}
	})
	t.Run("alt=text of numbered directories", func(t *testing.T) {
		t.Parallel()
		w := get(s, v1Path+"instance/network-interfaces/0/access-configs/?recursive=true&alt=text")
		want := "0/external-ip 203.0.113.9\n0/type ONE_TO_ONE_NAT\n"
		if got := w.Body.String(); got != want {
			t.Errorf("got body = %q; want %q", got, want)
		}
	})
}

func TestETagAndWaitForChange(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestServer(t, nil)
	target := v1Path + "project/project-id"
	etag := get(s, target).Header().Get("ETag")
	if other := get(s, v1Path+"instance/name").Header().Get("ETag"); other == etag {
		t.Fatalf("got the same ETag %q for two values; want different", etag)
	}
	if again := get(s, target).Header().Get("ETag"); again != etag {
		t.Fatalf("got ETag = %q on a second request; want %q", again, etag)
	}

	tests := []struct {
		name       string
		query      string
		cancelAt   time.Duration // 0: never
		code       int
		minD, maxD time.Duration
	}{
		{"last_etag differs: at once", "?wait_for_change=true&last_etag=0000000000000000", 0, 200, 0, 500 * time.Millisecond},
		{"same last_etag: waits timeout_sec", "?wait_for_change=true&timeout_sec=1&last_etag=" + etag, 0, 200, time.Second, 3 * time.Second},
		{"no last_etag: waits timeout_sec", "?wait_for_change=true&timeout_sec=1", 0, 200, time.Second, 3 * time.Second},
		{"timeout_sec=0", "?wait_for_change=true&timeout_sec=0&last_etag=" + etag, 0, 200, 0, 500 * time.Millisecond},
		{"client goes away", "?wait_for_change=true&last_etag=" + etag, 200 * time.Millisecond, 0, 150 * time.Millisecond, 2 * time.Second},
		{"bad timeout_sec", "?wait_for_change=true&timeout_sec=soon", 0, 400, 0, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelAt > 0 {
				time.AfterFunc(tt.cancelAt, cancel)
			}
			r := httptest.NewRequestWithContext(ctx, http.MethodGet, testBase+target+tt.query, nil)
			r.Header.Set("Metadata-Flavor", "Google")
			w := httptest.NewRecorder()
			start := time.Now()
			s.ServeHTTP(w, r)
			d := time.Since(start)
			if d < tt.minD || d > tt.maxD {
				t.Errorf("got duration %s; want between %s and %s", d, tt.minD, tt.maxD)
			}
			if tt.code == 0 {
				if w.Body.Len() != 0 {
					t.Errorf("got body = %q for a gone client; want none", w.Body.String())
				}
				return
			}
			if w.Code != tt.code {
				t.Errorf("got status = %d; want %d", w.Code, tt.code)
			}
			if tt.code == 200 {
				if got := w.Body.String(); got != testProject {
					t.Errorf("got body = %q; want %q", got, testProject)
				}
				if got := w.Header().Get("ETag"); got != etag {
					t.Errorf("got ETag = %q; want %q", got, etag)
				}
			}
		})
	}
}

// TestServe runs the real listener: timeouts set, long polls released and a
// clean return on shutdown.
func TestServe(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestServer(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	res, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("got /healthz status = %d; want 200", res.StatusCode)
	}

	// A long poll (60 s by default) must end when the server shuts down.
	type result struct {
		code int
		body string
		err  error
	}
	polled := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, base+v1Path+"project/project-id?wait_for_change=true", nil)
		req.Header.Set("Metadata-Flavor", "Google")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			polled <- result{err: err}
			return
		}
		defer res.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(res.Body)
		polled <- result{code: res.StatusCode, body: b.String()}
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("got Serve() = %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("got shutdown in %s; want the long poll released at once", d)
	}
	r := <-polled
	if r.err != nil || r.code != 200 || r.body != testProject {
		t.Errorf("got long poll = %d %q %v; want 200 %q", r.code, r.body, r.err, testProject)
	}
}

func TestServeListenerError(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestServer(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := s.Serve(context.Background(), ln); err == nil {
		t.Errorf("got Serve() = nil on a closed listener; want an error")
	}
}

func TestNewValidation(t *testing.T) {
	t.Parallel()
	src := newFakeSource(time.Now)
	tests := []struct {
		name string
		edit func(*Options)
		want string // substring of the error; "" for success
	}{
		{"minimal", func(o *Options) {}, ""},
		{"no source", func(o *Options) { o.Source = nil }, "Source is required"},
		{"no email", func(o *Options) { o.ServiceAccountEmail = "" }, "ServiceAccountEmail is required"},
		{"email default", func(o *Options) { o.ServiceAccountEmail = "default" }, "not an email"},
		{"email with slash", func(o *Options) { o.ServiceAccountEmail = "a/b@c" }, "must not contain"},
		{"no project", func(o *Options) { o.ProjectID = "" }, "ProjectID is required"},
		{"project with space", func(o *Options) { o.ProjectID = "my project" }, "ProjectID"},
		{"numeric project not a number", func(o *Options) { o.NumericProjectID = "12a" }, "NumericProjectID"},
		{"instance id not a number", func(o *Options) { o.InstanceID = "-1" }, "InstanceID"},
		{"leading zero (invalid in JSON)", func(o *Options) { o.NumericProjectID = "0123" }, "NumericProjectID"},
		{"bad scope", func(o *Options) { o.Scopes = []string{"a,b"} }, "Scopes"},
		{"empty scope", func(o *Options) { o.Scopes = []string{""} }, "Scopes"},
		{"attribute key with slash", func(o *Options) { o.InstanceAttributes = map[string]string{"a/b": "x"} }, "InstanceAttributes"},
		{"empty attribute key", func(o *Options) { o.ProjectAttributes = map[string]string{"": "x"} }, "ProjectAttributes"},
		{"negative MinRemaining", func(o *Options) { o.MinRemaining = -1 }, "negative"},
		{"RefreshBefore below MinRemaining", func(o *Options) { o.RefreshBefore = time.Minute }, "RefreshBefore"},
		{"MinRemaining above default RefreshBefore", func(o *Options) { o.MinRemaining = 20 * time.Minute }, "RefreshBefore"},
		{"zone with slash", func(o *Options) { o.Zone = "a/b" }, "Zone"},
		{"machine type with slash", func(o *Options) { o.MachineType = "zones/x/e2" }, "MachineType"},
		{"network with space", func(o *Options) { o.Network = "my net" }, "Network"},
		{"description with a newline", func(o *Options) { o.Description = "a\nb" }, "Description"},
		{"empty tag", func(o *Options) { o.Tags = []string{""} }, "Tags"},
		{"license not a number", func(o *Options) { o.Licenses = []string{"debian-12"} }, "Licenses"},
		{"internal ip not an address", func(o *Options) { o.InternalIP = "10.0.0" }, "InternalIP"},
		{"external ip IPv6", func(o *Options) { o.ExternalIP = "2001:db8::1" }, "ExternalIP"},
		{"instance values", func(o *Options) {
			o.MachineType, o.Image, o.CPUPlatform, o.Description = "c3-standard-4", "projects/p/global/images/i", "Intel Sapphire Rapids", "my vm"
			o.Tags, o.Licenses, o.InternalIP, o.ExternalIP, o.Network = []string{"web"}, []string{}, "192.168.7.9", "198.51.100.1", "prod"
		}, ""},
		{"default scopes refused by the source", func(o *Options) {
			bad := newFakeSource(time.Now)
			bad.failScopes = DefaultScope
			o.Source = bad
		}, "access tokens for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := &Options{Source: src, ServiceAccountEmail: testEmail, ProjectID: testProject}
			tt.edit(o)
			_, err := New(o)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got New() = %v; want success", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got New() = %v; want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := New(nil); err == nil {
		t.Errorf("got New(nil) = nil error; want one")
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	s, err := New(&Options{Source: newFakeSource(time.Now), ServiceAccountEmail: testEmail, ProjectID: "example.com:proj"})
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := New(&Options{Source: newFakeSource(time.Now), ServiceAccountEmail: testEmail, ProjectID: "example.com:proj"})
	num := get(s, v1Path+"project/numeric-project-id").Body.String()
	if !regexp.MustCompile(`^[1-9][0-9]{11}$`).MatchString(num) {
		t.Errorf("got numeric-project-id = %q; want 12 digits", num)
	}
	id := get(s, v1Path+"instance/id").Body.String()
	if !regexp.MustCompile(`^[1-9][0-9]{18}$`).MatchString(id) {
		t.Errorf("got instance id = %q; want 19 digits", id)
	}
	for _, p := range []string{"project/numeric-project-id", "instance/id"} {
		if a, b := get(s, v1Path+p).Body.String(), get(s2, v1Path+p).Body.String(); a != b {
			t.Errorf("got %s = %q and %q from two servers; want stable", p, a, b)
		}
	}
	tests := []struct{ path, want string }{
		{"instance/zone", "projects/" + num + "/zones/us-central1-a"},
		{"instance/name", "gcptoken-vm"},
		{"instance/hostname", "gcptoken-vm.c.proj.example.com.internal"},
		{"universe/universe-domain", "googleapis.com"},
		{"instance/service-accounts/default/scopes", DefaultScope + "\n"},
		{"instance/attributes/", ""},
		{"instance/machine-type", "projects/" + num + "/machineTypes/e2-medium"},
		{"instance/network-interfaces/0/ip", "10.128.0.2"},
		{"instance/network-interfaces/0/gateway", "10.128.0.1"},
		{"instance/network-interfaces/0/mac", "42:01:0a:80:00:02"},
		{"instance/network-interfaces/0/access-configs/0/external-ip", "203.0.113.2"},
		{"instance/tags", "[]"},
		{"instance/description", ""},
	}
	for _, tt := range tests {
		if got := get(s, v1Path+tt.path).Body.String(); got != tt.want {
			t.Errorf("got %s = %q; want %q", tt.path, got, tt.want)
		}
	}
	license := get(s, v1Path+"instance/licenses/0/id").Body.String()
	if !regexp.MustCompile(`^[1-9][0-9]{18}$`).MatchString(license) {
		t.Errorf("got default license id = %q; want 19 digits", license)
	}
	if l2 := get(s2, v1Path+"instance/licenses/0/id").Body.String(); l2 != license {
		t.Errorf("got license ids %q and %q from two servers; want stable", license, l2)
	}
	if got := get(s, v1Path+"instance/licenses/1/id").Code; got != http.StatusNotFound {
		t.Errorf("got status %d for a second default license; want 404 (one license)", got)
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))
	s, _, _ := newTestServer(t, func(o *Options) { o.Logger = logger })
	tok := get(s, v1Path+"instance/service-accounts/default/token?scopes=secret-scope-name")
	id := get(s, v1Path+"instance/service-accounts/default/identity?audience=https://aud.example/secret-query")
	get(s, v1Path+"instance/service-accounts/default/identity?audience=https://aud.example/secret-query")
	if tok.Code != 200 || id.Code != 200 {
		t.Fatalf("got statuses %d, %d; want 200", tok.Code, id.Code)
	}
	var at struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(tok.Body.Bytes(), &at)
	mu.Lock()
	logs := buf.String()
	mu.Unlock()
	for _, want := range []string{
		"path=" + v1Path + "instance/service-accounts/default/token", "status=200", "cache=miss", "cache=hit", "duration=",
		"method=GET", "upstream token fetch",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("got logs %q; want them to contain %q", logs, want)
		}
	}
	for _, secret := range []string{at.AccessToken, id.Body.String(), "ya29.", "eyJ"} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("got logs containing a token %q; want none:\n%s", secret, logs)
		}
	}
	if strings.Contains(logs, "?") {
		t.Errorf("got a query in the access log; want paths only:\n%s", logs)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	s, src, _ := newTestServer(t, nil)
	for range 3 {
		get(s, v1Path+"instance/service-accounts/default/token")
	}
	get(s, v1Path+"instance/service-accounts/default/identity?audience=a")
	get(s, v1Path+"nope")
	do(s, http.MethodGet, v1Path+"project/project-id", http.Header{})
	src.setFail(errors.New("boom"))
	get(s, v1Path+"instance/service-accounts/default/identity?audience=b")

	body := get(s, "/metrics").Body.String()
	for _, want := range []string{
		`gcptoken_metadataserver_requests_total{endpoint="token",code="200"} 3`,
		`gcptoken_metadataserver_requests_total{endpoint="identity",code="200"} 1`,
		`gcptoken_metadataserver_requests_total{endpoint="identity",code="502"} 1`,
		`gcptoken_metadataserver_requests_total{endpoint="other",code="404"} 1`,
		`gcptoken_metadataserver_requests_total{endpoint="project",code="403"} 1`,
		`gcptoken_metadataserver_token_cache_lookups_total{kind="access_token",result="hit"} 2`,
		`gcptoken_metadataserver_token_cache_lookups_total{kind="access_token",result="miss"} 1`,
		`gcptoken_metadataserver_token_cache_lookups_total{kind="id_token",result="miss"} 2`,
		`gcptoken_metadataserver_upstream_fetches_total{kind="access_token",result="ok"} 1`,
		`gcptoken_metadataserver_upstream_fetches_total{kind="id_token",result="error"} 1`,
		`gcptoken_metadataserver_upstream_fetch_duration_seconds_count{kind="access_token"} 1`,
		`gcptoken_metadataserver_requests_in_flight 1`, // the /metrics request itself
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("got metrics without %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, `"a"`) || strings.Contains(body, "audience") {
		t.Errorf("got an audience in a metric label; want bounded labels only:\n%s", body)
	}
}
