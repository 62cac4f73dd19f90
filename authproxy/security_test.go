package authproxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// send makes a real HTTP request to the proxy at p with the given Host
// header and headers, and returns the response and its body.
func send(t *testing.T, p *running, method, host string, h http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, p.URL+"/api/data", strings.NewReader("action=delete"))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// TestSecurityProxyDNSRebinding: a web page at http://attacker.example:PORT/
// rebinds its name to 127.0.0.1. Its browser then sends the page's requests
// to the proxy, which would add the credential's token and hand the
// target's answers back to the page (same-origin as far as the browser
// knows). The one trace is Host: the attacker's name. The proxy must refuse
// it, and keep serving its own names.
func TestSecurityProxyDNSRebinding(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	p := startProxy(t, startUpstream(t, rec), func(o *Options) { o.AllowedHosts = []string{"proxy.internal.example"} })
	_, port, _ := strings.Cut(p.Host, ":")
	for _, host := range []string{"attacker.example:" + port, "attacker.example", "127.0.0.1.nip.io:" + port, "0.0.0.0:" + port} {
		res, body := send(t, p, http.MethodGet, host, nil)
		if res.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(body, "--allow-host") {
			t.Errorf("Host %s: got %d %q; want 421 naming --allow-host", host, res.StatusCode, body)
		}
		oneLineBody(t, body)
	}
	if n := rec.hits.Load(); n != 0 {
		t.Errorf("upstream saw %d requests for foreign Hosts; want 0", n)
	}
	for _, host := range []string{p.Host, "localhost:" + port, "[::1]:" + port, "10.1.2.3:" + port, "proxy.internal.example:" + port} {
		if res, body := send(t, p, http.MethodGet, host, nil); res.StatusCode != http.StatusOK || body != "ok" {
			t.Errorf("Host %s: got %d %q; want 200 from upstream", host, res.StatusCode, body)
		}
	}
}

// TestSecurityProxyCrossSiteRequest: a page on another site (or on another
// port of localhost) makes the user's browser send requests to the proxy:
// a form post (the target acts as the principal), a navigation, a
// WebSocket handshake, or a CORS preflight that the target's own CORS
// headers would grant, letting the page read through the proxy. All are
// refused, unless AllowCrossSite.
func TestSecurityProxyCrossSiteRequest(t *testing.T) {
	t.Parallel()
	rec := &recorder{handle: func(w http.ResponseWriter, r *http.Request) {
		// A target that allows any origin, as many APIs do.
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
		w.Header().Set("Access-Control-Allow-Headers", "*")
		_, _ = io.WriteString(w, "ok")
	}}
	up := startUpstream(t, rec)
	strict := startProxy(t, up, nil)
	lax := startProxy(t, up, func(o *Options) { o.AllowCrossSite = true })
	attacker := "https://attacker.example"
	tests := []struct {
		name   string
		method string
		h      http.Header
	}{
		{"cross-site form post", http.MethodPost, http.Header{"Origin": {attacker}, "Sec-Fetch-Site": {"cross-site"}, "Content-Type": {"application/x-www-form-urlencoded"}}},
		{"form post from an old browser", http.MethodPost, http.Header{"Origin": {attacker}}},
		{"another port of localhost", http.MethodPost, http.Header{"Origin": {"http://localhost:3000"}, "Sec-Fetch-Site": {"same-site"}}},
		{"cross-site navigation", http.MethodGet, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"navigate"}}},
		{"CORS preflight", http.MethodOptions, http.Header{"Origin": {attacker}, "Sec-Fetch-Site": {"cross-site"}, "Access-Control-Request-Method": {"DELETE"}}},
		{"WebSocket handshake", http.MethodGet, http.Header{"Origin": {attacker}, "Sec-Fetch-Site": {"cross-site"}, "Upgrade": {"websocket"}, "Connection": {"Upgrade"}}},
		{"opaque origin (sandboxed frame)", http.MethodPost, http.Header{"Origin": {"null"}}},
	}
	for _, tt := range tests {
		res, body := send(t, strict, tt.method, strict.Host, tt.h)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "another site") || !strings.Contains(body, "--allow-cross-site") {
			t.Errorf("%s: got %d %q; want 403 naming --allow-cross-site", tt.name, res.StatusCode, body)
		}
		if v := res.Header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("%s: got Access-Control-Allow-Origin %q; want none", tt.name, v)
		}
	}
	if n := rec.hits.Load(); n != 0 {
		t.Errorf("upstream saw %d cross-site requests; want 0", n)
	}

	// The proxy's own pages, typed URLs and non-browser clients pass.
	for name, h := range map[string]http.Header{
		"same-origin post": {"Origin": {strict.URL}, "Sec-Fetch-Site": {"same-origin"}},
		"typed URL":        {"Sec-Fetch-Site": {"none"}},
		"curl":             nil,
	} {
		if res, body := send(t, strict, http.MethodPost, strict.Host, h); res.StatusCode != http.StatusOK {
			t.Errorf("%s: got %d %q; want 200", name, res.StatusCode, body)
		}
	}
	// Allowed explicitly, they are forwarded.
	if res, body := send(t, lax, http.MethodPost, lax.Host, tests[0].h); res.StatusCode != http.StatusOK {
		t.Errorf("AllowCrossSite: got %d %q; want 200", res.StatusCode, body)
	}
}
