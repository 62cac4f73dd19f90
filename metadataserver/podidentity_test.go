package metadataserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
)

const (
	gsaCart     = "cart@" + fakegoogle.DefaultProjectID + ".iam.gserviceaccount.com"
	gsaCheckout = "checkout@" + fakegoogle.DefaultProjectID + ".iam.gserviceaccount.com"
)

// newPodFleet starts fakegoogle with two Google service accounts that the
// node's account (fakegoogle's default) may impersonate, and a
// PodIdentityServer over pods.
func newPodFleet(t *testing.T, pods PodLookup) (*PodIdentityServer, *fakegoogle.Running) {
	t.Helper()
	fake, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	for _, gsa := range []string{gsaCart, gsaCheckout} {
		if _, err := fake.AddServiceAccount(gsa); err != nil {
			t.Fatal(err)
		}
		if err := fake.GrantTokenCreator(fakegoogle.DefaultServiceAccount, gsa); err != nil {
			t.Fatal(err)
		}
	}
	key, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	node, err := credentials.FromJSON(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sourced []string
	p, err := NewPodIdentityServer(&PodIdentityOptions{
		Pods: pods,
		Identities: map[string]string{
			"shop/cart":      gsaCart,
			"shop/cart-jobs": gsaCart, // two KSAs, one Google account
			"shop/checkout":  gsaCheckout,
		},
		SourceFor: func(email string) (Source, error) {
			sourced = append(sourced, email)
			c, err := credentials.Impersonate(node, &credentials.ImpersonateOptions{Target: email, IAMEndpoint: fake.IAMCredentialsURL()})
			if err != nil {
				return nil, err
			}
			return FromCredentials(c), nil
		},
		Server: Options{ProjectID: fakegoogle.DefaultProjectID, InstanceName: "node-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sourced) != 2 {
		t.Errorf("SourceFor was called for %q; want once per Google account (2)", sourced)
	}
	return p, fake
}

var (
	ipCart     = netip.MustParseAddr("10.4.0.11")
	ipCartJobs = netip.MustParseAddr("10.4.0.12")
	ipCheckout = netip.MustParseAddr("10.4.0.13")
	ipUnmapped = netip.MustParseAddr("10.4.0.14")
	ipUnknown  = netip.MustParseAddr("10.4.0.99")
)

var testPods = StaticPods{
	ipCart:     {Namespace: "shop", Name: "cart-7d9f", ServiceAccount: "cart"},
	ipCartJobs: {Namespace: "shop", Name: "cart-jobs-1", ServiceAccount: "cart-jobs"},
	ipCheckout: {Namespace: "shop", Name: "checkout-5c2a", ServiceAccount: "checkout"},
	ipUnmapped: {Namespace: "shop", Name: "batch-x", ServiceAccount: "default"},
}

func TestPodIdentity(t *testing.T) {
	t.Parallel()
	p, _ := newPodFleet(t, testPods)
	const emailPath = v1 + "instance/service-accounts/default/email"
	const identityPath = v1 + "instance/service-accounts/default/identity?audience=https://svc.example.run.app&format=full"
	for _, tc := range []struct {
		name       string
		from       string // RemoteAddr
		path       string
		header     http.Header
		wantStatus int
		wantBody   string // substring
		wantEmail  string // of the identity token, for identityPath
	}{
		{"mapped pod gets its account", ipCart.String() + ":40000", emailPath, nil, 200, gsaCart, ""},
		{"other pod, other account", ipCheckout.String() + ":40000", emailPath, nil, 200, gsaCheckout, ""},
		{"second KSA mapped to the same account", ipCartJobs.String() + ":1", emailPath, nil, 200, gsaCart, ""},
		{"ID token is the pod's account's", ipCheckout.String() + ":40000", identityPath, nil, 200, "", gsaCheckout},
		{"IPv4-mapped IPv6 source", "[::ffff:" + ipCart.String() + "]:40000", emailPath, nil, 200, gsaCart, ""},
		{"headers do not choose the pod", ipUnknown.String() + ":40000", emailPath,
			http.Header{"X-Real-Ip": {ipCart.String()}, "Forwarded": {"for=" + ipCart.String()}, "X-Pod-Ip": {ipCart.String()}},
			403, "no pod on this node has the address " + ipUnknown.String(), ""},
		{"unknown address", ipUnknown.String() + ":40000", emailPath, nil, 403, "hostNetwork pods and the node itself", ""},
		{"unknown address, detection probe", ipUnknown.String() + ":40000", "/", nil, 403, "no pod on this node", ""},
		{"unmapped service account", ipUnmapped.String() + ":40000", emailPath, nil, 403, "shop/default of pod shop/batch-x is not mapped", ""},
		{"X-Forwarded-For", ipCart.String() + ":40000", emailPath, http.Header{"X-Forwarded-For": {"1.2.3.4"}}, 403, "X-Forwarded-For", ""},
		{"no Metadata-Flavor still refused by the pod's server", ipCart.String() + ":40000", emailPath, http.Header{"Metadata-Flavor": nil}, 403, "Metadata-Flavor", ""},
		{"healthz without identity", ipUnknown.String() + ":1", "/healthz", nil, 200, "ok", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, testBase+tc.path, nil)
			r.RemoteAddr = tc.from
			r.Header.Set("Metadata-Flavor", "Google")
			for k, v := range tc.header {
				r.Header[k] = v
			}
			w := httptest.NewRecorder()
			p.ServeHTTP(w, r)
			body := w.Body.String()
			if w.Code != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Fatalf("got %d %q; want %d containing %q", w.Code, body, tc.wantStatus, tc.wantBody)
			}
			if got := w.Header().Get("Metadata-Flavor"); got != "Google" {
				t.Errorf("got Metadata-Flavor %q; want Google on every response", got)
			}
			if tc.wantEmail != "" {
				if got := claim(t, body, "email"); got != tc.wantEmail {
					t.Errorf("got ID token for %q; want %q", got, tc.wantEmail)
				}
			}
		})
	}
}

// TestPodIdentityOverSockets runs the server on a real listener and calls
// it from two loopback source addresses, as two pods would: each gets its
// own account's token, pods of one account share one cached token, and
// the metrics count the identifications.
func TestPodIdentityOverSockets(t *testing.T) {
	t.Parallel()
	a, b := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	c := netip.MustParseAddr("127.0.0.4")
	p, fake := newPodFleet(t, StaticPods{
		a: {Namespace: "shop", Name: "cart-1", ServiceAccount: "cart"},
		b: {Namespace: "shop", Name: "cart-2", ServiceAccount: "cart-jobs"},
		c: {Namespace: "shop", Name: "checkout-1", ServiceAccount: "checkout"},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()
	from := func(ip netip.Addr) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip.AsSlice()}}
		tr := &http.Transport{DialContext: d.DialContext}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	get := func(ip netip.Addr, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Metadata-Flavor", "Google")
		res, err := from(ip).Do(req)
		if err != nil {
			t.Fatalf("GET %s from %s: %v", path, ip, err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	token := func(ip netip.Addr) string {
		t.Helper()
		code, body := get(ip, tokenPath)
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal([]byte(body), &tr); code != 200 || err != nil || tr.AccessToken == "" {
			t.Fatalf("got %d %q from %s; want a token", code, body, ip)
		}
		return tr.AccessToken
	}
	ta, tb, tc := token(a), token(b), token(c)
	if ta != tb {
		t.Errorf("pods of two KSAs mapped to one Google account got different tokens; want the shared cached one")
	}
	if ta == tc {
		t.Errorf("pods of different Google accounts got the same token")
	}
	if n := fake.RequestCount("/v1/projects/-/serviceAccounts/" + gsaCart + ":generateAccessToken"); n != 1 {
		t.Errorf("got %d generateAccessToken calls for %s; want 1 (cached per account)", n, gsaCart)
	}
	if code, body := get(netip.MustParseAddr("127.0.0.1"), tokenPath); code != 403 {
		t.Errorf("got %d %q from the node's own address; want 403", code, body)
	}
	_, metrics := get(a, "/metrics")
	for _, want := range []string{
		`gcptoken_metadataserver_pod_lookups_total{result="found"} 3`,
		`gcptoken_metadataserver_pod_lookups_total{result="unknown_pod"} 1`,
		`gcptoken_metadataserver_requests_total{endpoint="token",code="200"} 3`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
}

// failingLookup fails every lookup, as a lookup whose pod watch is down.
type failingLookup struct{}

func (failingLookup) PodByIP(context.Context, netip.Addr) (Pod, error) {
	return Pod{}, errors.New("pod watch not synced")
}

func TestPodIdentityLookupFailure(t *testing.T) {
	t.Parallel()
	p, _ := newPodFleet(t, failingLookup{})
	r := httptest.NewRequest(http.MethodGet, testBase+tokenPath, nil)
	r.RemoteAddr = ipCart.String() + ":1"
	r.Header.Set("Metadata-Flavor", "Google")
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "pod watch not synced") {
		t.Errorf("got %d %q; want 503 naming the lookup failure", w.Code, w.Body.String())
	}
}

func TestNewPodIdentityServerValidates(t *testing.T) {
	t.Parallel()
	src := func(string) (Source, error) { return newFakeSource(newClock().Now), nil }
	ok := func() *PodIdentityOptions {
		return &PodIdentityOptions{
			Pods:       StaticPods{},
			Identities: map[string]string{"ns/ksa": "a@p.iam.gserviceaccount.com"},
			SourceFor:  src,
			Server:     Options{ProjectID: "p"},
		}
	}
	for _, tc := range []struct {
		name    string
		edit    func(*PodIdentityOptions)
		wantErr string
	}{
		{"nil options", nil, "PodIdentityOptions are required"},
		{"no lookup", func(o *PodIdentityOptions) { o.Pods = nil }, "Pods is required"},
		{"no identities", func(o *PodIdentityOptions) { o.Identities = nil }, "Identities is required"},
		{"bad KSA key", func(o *PodIdentityOptions) { o.Identities = map[string]string{"ksa": "a@p.iam.gserviceaccount.com"} }, `key "ksa" is not namespace/serviceaccount`},
		{"no source", func(o *PodIdentityOptions) { o.SourceFor = nil }, "SourceFor is required"},
		{"bad email", func(o *PodIdentityOptions) { o.Identities = map[string]string{"ns/ksa": "nobody"} }, `"nobody" is not an email address`},
		{"no project", func(o *PodIdentityOptions) { o.Server.ProjectID = "" }, "ProjectID is required"},
		{"source refuses", func(o *PodIdentityOptions) {
			o.SourceFor = func(email string) (Source, error) { return nil, errors.New("cannot impersonate") }
		}, "token source for a@p.iam.gserviceaccount.com: cannot impersonate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts *PodIdentityOptions
			if tc.edit != nil {
				opts = ok()
				tc.edit(opts)
			}
			_, err := NewPodIdentityServer(opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v; want an error containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := NewPodIdentityServer(ok()); err != nil {
		t.Errorf("got %v for valid options; want nil", err)
	}
}

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPodIdentityLogs: a refusal is logged with the source and the reason;
// served tokens never appear in the log.
func TestPodIdentityLogs(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	src := newFakeSource(newClock().Now)
	p, err := NewPodIdentityServer(&PodIdentityOptions{
		Pods:       testPods,
		Identities: map[string]string{"shop/cart": gsaCart},
		SourceFor:  func(string) (Source, error) { return src, nil },
		Server:     Options{ProjectID: "p", Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: newClock().Now},
	})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(from string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, testBase+tokenPath, nil)
		r.RemoteAddr = from
		r.Header.Set("Metadata-Flavor", "Google")
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		return w
	}
	if w := serve(ipUnknown.String() + ":5"); w.Code != http.StatusForbidden {
		t.Fatalf("got %d for an unknown pod; want 403", w.Code)
	}
	w := serve(ipCart.String() + ":5")
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tr); w.Code != 200 || err != nil || tr.AccessToken == "" {
		t.Fatalf("got %d %q for a mapped pod; want a token", w.Code, w.Body.String())
	}
	out := logs.String()
	for _, want := range []string{`msg="request refused"`, "source=" + ipUnknown.String() + ":5", "status=403", "no pod on this node has the address"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, tr.AccessToken) {
		t.Errorf("the log contains the served token:\n%s", out)
	}
}
