package googlehosts_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/fakegoogle/googlehosts"
)

const testUniverse = "universe.test"

// TestHostsIn: another universe has the googleapis.com hosts under its own
// domain, and none of google.com's.
func TestHostsIn(t *testing.T) {
	t.Parallel()
	want := []string{"oauth2.universe.test", "www.universe.test", "iamcredentials.universe.test", "sts.universe.test",
		"openidconnect.universe.test", "cloudresourcemanager.universe.test"}
	if got := googlehosts.HostsIn(testUniverse); !slices.Equal(got, want) {
		t.Errorf("HostsIn(%s) = %q; want %q", testUniverse, got, want)
	}
	if got := googlehosts.HostsIn(""); !slices.Equal(got, googlehosts.Hosts()) {
		t.Errorf("HostsIn(\"\") = %q; want Hosts()", got)
	}
}

// TestCAForTwoUniverses: a CA directory used by emulators of two universes
// ends up with one CA that may certify both sets of hosts; it is replaced
// once, not at every start.
func TestCAForTwoUniverses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	public, err := googlehosts.LoadOrCreateCA(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := public.Leaf("iamcredentials.universe.test"); err == nil {
		t.Error("the public universe's CA issued a leaf for another universe's host")
	}
	both, err := googlehosts.LoadOrCreateCA(dir, nil, googlehosts.HostsIn(testUniverse)...)
	if err != nil {
		t.Fatal(err)
	}
	if both.Certificate().Equal(public.Certificate()) {
		t.Fatal("the CA was not replaced for the other universe's hosts")
	}
	for _, h := range append(googlehosts.Hosts(), googlehosts.HostsIn(testUniverse)...) {
		if _, err := both.Leaf(h); err != nil {
			t.Errorf("Leaf(%s): %v", h, err)
		}
	}
	again, err := googlehosts.LoadOrCreateCA(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Certificate().Equal(both.Certificate()) {
		t.Error("the CA was replaced again on going back to googleapis.com")
	}
	if _, err := googlehosts.New(&googlehosts.Options{Fake: http.NotFoundHandler(), CA: public, UniverseDomain: testUniverse}); err == nil ||
		!strings.Contains(err.Error(), "may not certify") {
		t.Errorf("a proxy for %s with a CA for googleapis.com: got %v; want it refused", testUniverse, err)
	}
}

// TestUniverseProxy: a proxy for a fake of another universe answers that
// universe's hosts over TLS, with HTTP/2 for IAM Credentials, and refuses
// googleapis.com's and google.com's, so a client that does not derive its
// endpoints from the universe fails instead of being answered.
func TestUniverseProxy(t *testing.T) {
	t.Parallel()
	fake, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024, UniverseDomain: testUniverse})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	ca, err := googlehosts.NewCA(nil, googlehosts.HostsIn(testUniverse)...)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := googlehosts.New(&googlehosts.Options{Fake: fake, CA: ca, UniverseDomain: testUniverse,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(func() { srv.Close(); proxy.Close() })
	proxyURL, _ := url.Parse(srv.URL)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}}

	key, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	rewritten, err := googlehosts.GoogleURLsIn(key, fake.URL, testUniverse)
	if err != nil {
		t.Fatal(err)
	}
	var kf map[string]string
	json.Unmarshal(rewritten, &kf)
	if kf["token_uri"] != "https://oauth2.universe.test/token" || kf["universe_domain"] != testUniverse {
		t.Errorf("rewritten key: token_uri %q, universe_domain %q; want the universe's", kf["token_uri"], kf["universe_domain"])
	}

	resp, err := client.Get("https://www.universe.test/oauth2/v3/certs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS.PeerCertificates[0].Subject.CommonName != "www.universe.test" {
		t.Errorf("certs on www.%s: %d; want 200 over TLS for that name", testUniverse, resp.StatusCode)
	}
	resp, err = client.Post("https://iamcredentials.universe.test/v1/projects/-/serviceAccounts/x:generateIdToken", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.ProtoMajor != 2 {
		t.Errorf("IAM Credentials of %s without a token: %s %d; want HTTP/2 401", testUniverse, resp.Proto, resp.StatusCode)
	}
	for _, u := range []string{"https://oauth2.googleapis.com/token", "https://accounts.google.com/.well-known/openid-configuration"} {
		if resp, err := client.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("GET %s through a proxy for %s: %d; want the CONNECT refused", u, testUniverse, resp.StatusCode)
		}
	}
}
