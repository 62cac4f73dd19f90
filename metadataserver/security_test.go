package metadataserver

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
)

// send makes a real HTTP request to the server at addr with the given Host
// header and extra headers, and returns status, body and response headers.
func send(t *testing.T, method, addr, host, path string, h http.Header) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
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
	return res.StatusCode, string(body), res.Header
}

var flavor = http.Header{"Metadata-Flavor": {"Google"}}

// TestSecurityMetadataDNSRebinding: a web page at
// http://attacker.example:PORT/ rebinds its name to 127.0.0.1. Its browser
// then connects to the metadata server and, the page being same-origin as
// far as the browser knows, sends any header (Metadata-Flavor included) and
// reads the token. The one trace is Host: the attacker's name. The server
// must refuse it, and keep answering the names Google's clients send.
func TestSecurityMetadataDNSRebinding(t *testing.T) {
	t.Parallel()
	s, src, _ := newTestServer(t, func(o *Options) { o.AllowedHosts = []string{"mds.internal.example"} })
	addr := serveForTest(t, s)
	_, port, _ := strings.Cut(addr, ":")
	for _, host := range []string{"attacker.example:" + port, "attacker.example", "localhost.attacker.example:" + port, "0.0.0.0:" + port} {
		code, body, hdr := send(t, http.MethodGet, addr, host, tokenPath, flavor)
		if code != http.StatusMisdirectedRequest || strings.Contains(body, "ya29") || strings.Count(body, "\n") != 1 || !strings.Contains(body, "--allow-host") {
			t.Errorf("Host %s: got %d %q; want 421 and one line naming --allow-host, no token", host, code, body)
		}
		if hdr.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("Host %s: got Access-Control-Allow-Origin %q; want none", host, hdr.Get("Access-Control-Allow-Origin"))
		}
	}
	if n := src.count(defaultKey); n != 0 {
		t.Errorf("got %d upstream fetches for refused requests; want 0", n)
	}
	// What Google's clients send: GCE_METADATA_HOST's address (Go, gcloud),
	// metadata.google.internal (Python, Node, with a trailing dot), the IP
	// (detection pings), and a name the operator allowed.
	for _, host := range []string{addr, "localhost:" + port, "[::1]:" + port, "metadata.google.internal", "metadata.google.internal.",
		"metadata", "169.254.169.254", "10.1.2.3:" + port, "MDS.internal.example:" + port} {
		if code, body, _ := send(t, http.MethodGet, addr, host, tokenPath, flavor); code != http.StatusOK || !strings.Contains(body, "ya29") {
			t.Errorf("Host %s: got %d %q; want 200 with a token", host, code, body)
		}
	}
}

// TestSecurityMetadataCrossSiteRequest: a page on another site (or on
// another port of localhost) sends requests to the metadata server. A
// simple request cannot carry Metadata-Flavor and the preflight for it must
// not be granted; a request a browser marks as cross-site, or whose Origin
// is not the server's, is refused whatever headers it has.
func TestSecurityMetadataCrossSiteRequest(t *testing.T) {
	t.Parallel()
	s, src, _ := newTestServer(t, nil)
	addr := serveForTest(t, s)
	tests := []struct {
		name string
		h    http.Header
	}{
		{"foreign Origin", http.Header{"Metadata-Flavor": {"Google"}, "Origin": {"https://attacker.example"}}},
		{"cross-site", http.Header{"Metadata-Flavor": {"Google"}, "Sec-Fetch-Site": {"cross-site"}}},
		{"another port of localhost", http.Header{"Metadata-Flavor": {"Google"}, "Sec-Fetch-Site": {"same-site"}, "Origin": {"http://localhost:3000"}}},
		{"opaque Origin", http.Header{"Metadata-Flavor": {"Google"}, "Origin": {"null"}}},
	}
	for _, tt := range tests {
		code, body, _ := send(t, http.MethodGet, addr, addr, tokenPath, tt.h)
		if code != http.StatusForbidden || strings.Contains(body, "ya29") || !strings.Contains(body, "another site") {
			t.Errorf("%s: got %d %q; want 403 saying another site sent it", tt.name, code, body)
		}
	}
	if n := src.count(defaultKey); n != 0 {
		t.Errorf("got %d upstream fetches for refused requests; want 0", n)
	}

	// The CORS preflight a page needs before it may send Metadata-Flavor.
	preflight := http.Header{"Origin": {"https://attacker.example"}, "Access-Control-Request-Method": {"GET"},
		"Access-Control-Request-Headers": {"metadata-flavor"}, "Sec-Fetch-Mode": {"cors"}}
	code, body, hdr := send(t, http.MethodOptions, addr, addr, tokenPath, preflight)
	if code/100 == 2 {
		t.Errorf("preflight: got %d %q; want a refusal", code, body)
	}
	for k := range hdr {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), "Access-Control-Allow-") {
			t.Errorf("preflight: got %s: %q; want no Access-Control-Allow-* header", k, hdr.Get(k))
		}
	}
	// Same-origin requests and clients that send no browser headers pass.
	same := http.Header{"Metadata-Flavor": {"Google"}, "Sec-Fetch-Site": {"same-origin"}, "Origin": {"http://" + addr}}
	if code, body, _ := send(t, http.MethodGet, addr, addr, tokenPath, same); code != http.StatusOK {
		t.Errorf("same-origin: got %d %q; want 200", code, body)
	}
}

// TestSecurityMetadataIdentityForOtherAudience: behind the metadata server
// is a user's credential (authorized_user), whose ID tokens always carry
// its OAuth client as audience. A client asking for a token for its
// service must be told at once that it cannot have one, not be handed the
// user's token for the OAuth client (which the service refuses later, or,
// if it checks nothing, accepts as the user). Allowed explicitly, it is
// served.
func TestSecurityMetadataIdentityForOtherAudience(t *testing.T) {
	t.Parallel()
	fake, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	rt, err := fake.IssueRefreshToken(fakegoogle.DefaultClientID, fakegoogle.DefaultUser,
		[]string{"openid", "https://www.googleapis.com/auth/userinfo.email", DefaultScope})
	if err != nil {
		t.Fatal(err)
	}
	userJSON, err := fake.AuthorizedUserJSON(fakegoogle.DefaultClientID, rt)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.FromJSON(userJSON, nil)
	if err != nil {
		t.Fatal(err)
	}
	newServer := func(allow bool) *Server {
		s, err := New(&Options{Source: FromCredentials(creds), ServiceAccountEmail: fakegoogle.DefaultUser,
			ProjectID: fakegoogle.DefaultProjectID, AllowAudienceMismatch: allow})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	service := fake.SampleServiceURL()

	strict := newServer(false)
	w := get(strict, identityPath+"?audience="+service)
	body := w.Body.String()
	if w.Code != http.StatusBadRequest || strings.HasPrefix(body, "eyJ") || strings.Count(body, "\n") != 1 ||
		!strings.Contains(body, `"`+service+`"`) || !strings.Contains(body, fakegoogle.DefaultClientID) || !strings.Contains(body, "--allow-client-audience") {
		t.Errorf("identity for %s: got %d %q; want 400, one line naming both audiences and --allow-client-audience, no token", service, w.Code, body)
	}
	// The audience the token really has is served.
	if w := get(strict, identityPath+"?audience="+fakegoogle.DefaultClientID); w.Code != http.StatusOK || claim(t, w.Body.String(), "aud") != fakegoogle.DefaultClientID {
		t.Errorf("identity for the OAuth client: got %d %q; want 200 with its token", w.Code, w.Body.String())
	}

	lax := newServer(true)
	if w := get(lax, identityPath+"?audience="+service); w.Code != http.StatusOK || claim(t, w.Body.String(), "aud") != fakegoogle.DefaultClientID {
		t.Errorf("AllowAudienceMismatch: got %d %q; want 200 with the client's token", w.Code, w.Body.String())
	}
}
