package metadataserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// annotatedAccounts is an IdentityResolver over a table of Kubernetes
// service accounts ("namespace/name") and their Google accounts ("" for
// a federated principal), editable while the server runs, as a
// ServiceAccount's annotation is.
type annotatedAccounts struct {
	mu      sync.Mutex
	gsa     map[string]string
	sources map[string]*fakeSource // by Key
	built   map[string]int         // NewSource calls by Key
}

func (a *annotatedAccounts) set(ksa, gsa string) {
	a.mu.Lock()
	a.gsa[ksa] = gsa
	a.mu.Unlock()
}

func (a *annotatedAccounts) Identity(_ context.Context, pod Pod) (Identity, error) {
	ksa := pod.Namespace + "/" + pod.ServiceAccount
	a.mu.Lock()
	gsa, ok := a.gsa[ksa]
	a.mu.Unlock()
	switch {
	case !ok:
		return Identity{}, fmt.Errorf("%w: service account %s is not in the table", ErrNoIdentity, ksa)
	case gsa == "broken":
		return Identity{}, errors.New("service account watch not synced")
	}
	email := gsa
	if email == "" {
		email = "proj.svc.id.goog"
	}
	key := ksa + "|" + gsa
	return Identity{Key: key, Email: email, NewSource: func() (Source, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.built[key]++
		if a.sources[key] == nil {
			a.sources[key] = newFakeSource(newClock().Now)
		}
		return a.sources[key], nil
	}}, nil
}

func newResolvedServer(t *testing.T, max int) (*PodIdentityServer, *annotatedAccounts) {
	t.Helper()
	a := &annotatedAccounts{gsa: map[string]string{}, sources: map[string]*fakeSource{}, built: map[string]int{}}
	p, err := NewPodIdentityServer(&PodIdentityOptions{
		Pods: StaticPods{
			ipCart:     {Namespace: "shop", Name: "cart-1", ServiceAccount: "cart"},
			ipCartJobs: {Namespace: "shop", Name: "cart-2", ServiceAccount: "cart"},
			ipCheckout: {Namespace: "shop", Name: "checkout-1", ServiceAccount: "checkout"},
			ipUnmapped: {Namespace: "shop", Name: "batch-1", ServiceAccount: "batch"},
		},
		Resolver:      a,
		MaxIdentities: max,
		Server:        Options{ProjectID: "proj"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, a
}

func from(p http.Handler, ip netip.Addr, path string) (int, string) {
	r := httptest.NewRequest(http.MethodGet, testBase+path, nil)
	r.RemoteAddr = ip.String() + ":40000"
	r.Header.Set("Metadata-Flavor", "Google")
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

const emailPath = v1 + "instance/service-accounts/default/email"

// TestPodIdentityResolver serves identities a Resolver decides per request:
// each pod its service account's Google account or federated principal,
// one token cache per identity, a changed mapping taking effect at once,
// and refusals for pods without an identity.
func TestPodIdentityResolver(t *testing.T) {
	t.Parallel()
	p, a := newResolvedServer(t, 0)
	a.set("shop/cart", gsaCart)
	a.set("shop/checkout", "")
	for _, tc := range []struct {
		name string
		ip   netip.Addr
		path string
		code int
		body string
	}{
		{"annotated service account", ipCart, emailPath, 200, gsaCart},
		{"federated principal: the workload pool", ipCheckout, emailPath, 200, "proj.svc.id.goog"},
		{"no identity: 403 with the resolver's reason", ipUnmapped, emailPath, 403, "shop/batch is not in the table"},
		{"unknown address", ipUnknown, emailPath, 403, "no pod on this node"},
	} {
		if code, body := from(p, tc.ip, tc.path); code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("%s: got %d %q; want %d containing %q", tc.name, code, body, tc.code, tc.body)
		}
	}

	// Two pods of one identity share its Server and cache.
	_, t1 := from(p, ipCart, tokenPath)
	_, t2 := from(p, ipCartJobs, tokenPath)
	if t1 != t2 || !strings.Contains(t1, "ya29.fake-") {
		t.Errorf("pods of one identity got %q and %q; want one cached token", t1, t2)
	}
	key := "shop/cart|" + gsaCart
	if a.built[key] != 1 || a.sources[key].count(DefaultScope) != 1 {
		t.Errorf("identity %s: %d sources, %d fetches; want 1 and 1", key, a.built[key], a.sources[key].count(DefaultScope))
	}

	// A changed annotation is a new identity.
	a.set("shop/cart", gsaCheckout)
	if code, body := from(p, ipCart, emailPath); code != 200 || body != gsaCheckout {
		t.Errorf("after the mapping changed: got %d %q; want %s", code, body, gsaCheckout)
	}
	a.set("shop/cart", "broken")
	if code, body := from(p, ipCart, emailPath); code != 503 || !strings.Contains(body, "not synced") {
		t.Errorf("resolver failure: got %d %q; want 503", code, body)
	}
	_, metrics := from(p, ipUnknown, "/metrics")
	for _, want := range []string{
		`gcptoken_metadataserver_identities 3`,
		`gcptoken_metadataserver_pod_lookups_total{result="unmapped"} 1`,
		`gcptoken_metadataserver_pod_lookups_total{result="error"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
}

// TestPodIdentityResolverEvicts keeps MaxIdentities Servers: the least
// recently used identity loses its cache and is built again when asked.
func TestPodIdentityResolverEvicts(t *testing.T) {
	t.Parallel()
	p, a := newResolvedServer(t, 2)
	a.set("shop/cart", gsaCart)
	a.set("shop/checkout", gsaCheckout)
	a.set("shop/batch", "")
	for _, ip := range []netip.Addr{ipCart, ipCheckout, ipUnmapped, ipCheckout, ipCart} {
		if code, body := from(p, ip, tokenPath); code != 200 {
			t.Fatalf("token from %s: %d %q", ip, code, body)
		}
	}
	for key, want := range map[string]int{"shop/cart|" + gsaCart: 2, "shop/checkout|" + gsaCheckout: 1, "shop/batch|": 1} {
		if got := a.built[key]; got != want {
			t.Errorf("identity %s built %d times; want %d", key, got, want)
		}
	}
	if n := p.resolved.len(); n != 2 {
		t.Errorf("%d identities kept; want MaxIdentities (2)", n)
	}
}

func TestPodIdentityResolverOptions(t *testing.T) {
	t.Parallel()
	a := &annotatedAccounts{}
	for _, tc := range []struct {
		name string
		opts PodIdentityOptions
		want string
	}{
		{"resolver and identities", PodIdentityOptions{Pods: StaticPods{}, Resolver: a, Identities: map[string]string{"a/b": gsaCart}}, "Resolver replaces"},
		{"resolver and SourceFor", PodIdentityOptions{Pods: StaticPods{}, Resolver: a, SourceFor: func(string) (Source, error) { return nil, nil }}, "Resolver replaces"},
		{"negative MaxIdentities", PodIdentityOptions{Pods: StaticPods{}, Resolver: a, MaxIdentities: -1}, "MaxIdentities"},
	} {
		o := tc.opts
		o.Server = Options{ProjectID: "proj"}
		if _, err := NewPodIdentityServer(&o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v; want it to mention %q", tc.name, err, tc.want)
		}
	}
	for email, ok := range map[string]bool{"proj.svc.id.goog": true, "a@b": true, ".svc.id.goog": false, "default": false, "proj": false} {
		err := (&Options{Source: newFakeSource(nil), ServiceAccountEmail: email, ProjectID: "p"}).validate()
		if (err == nil) != ok {
			t.Errorf("ServiceAccountEmail %q: validate() = %v; want ok=%v", email, err, ok)
		}
	}
}

// whyLookup explains why an address is no pod's, as a lookup that knows
// the node's addresses does.
type whyLookup struct{}

func (whyLookup) PodByIP(_ context.Context, ip netip.Addr) (Pod, error) {
	return Pod{}, fmt.Errorf("%w: %s is the node's address and the node names no account for hostNetwork pods", ErrPodNotFound, ip)
}

func TestPodIdentityLookupReason(t *testing.T) {
	t.Parallel()
	p, err := NewPodIdentityServer(&PodIdentityOptions{Pods: whyLookup{}, Resolver: &annotatedAccounts{}, Server: Options{ProjectID: "proj"}})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := from(p, ipCart, emailPath); code != 403 || !strings.Contains(body, "names no account for hostNetwork pods") {
		t.Errorf("got %d %q; want 403 with the lookup's reason", code, body)
	}
}
