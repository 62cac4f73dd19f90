package googlehosts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// route is one emulated Google host and the paths it serves (protocol.md
// §0.1). A path ending in "/" is a prefix; a "*" segment stands for one
// non-empty path segment (an email, a project id). The fake serves every
// path on one mux, so the table is what keeps a client honest: a path asked
// of the wrong host gets Google's 404, as at Google (the IAM Credentials and
// Resource Manager hosts both serve /v1/projects/…, with different shapes).
type route struct {
	host  string
	paths []string
}

var routes = table{
	{"oauth2.googleapis.com", []string{"/token", "/tokeninfo", "/revoke", "/device/code"}},
	{"accounts.google.com", []string{"/o/oauth2/token", "/o/oauth2/revoke", "/o/oauth2/auth", "/o/oauth2/v2/auth",
		"/.well-known/openid-configuration"}},
	{"www.googleapis.com", []string{"/oauth2/v1/certs", "/oauth2/v3/certs",
		"/oauth2/v1/tokeninfo", "/oauth2/v2/tokeninfo", "/oauth2/v3/tokeninfo",
		"/oauth2/v1/userinfo", "/oauth2/v2/userinfo", "/oauth2/v3/userinfo", "/oauth2/v4/token",
		"/robot/v1/metadata/x509/*", "/robot/v1/metadata/jwk/*",
		"/service_accounts/v1/metadata/x509/*", "/service_accounts/v1/metadata/jwk/*",
		"/service_accounts/v1/metadata/raw/*", "/service_accounts/v1/jwk/*"}},
	{"iamcredentials.googleapis.com", []string{"/v1/projects/*/serviceAccounts/*", grpcIAMCredentials}},
	{"sts.googleapis.com", []string{"/v1/token", "/v1/oauthtoken", "/v1/introspect"}},
	{"openidconnect.googleapis.com", []string{"/v1/userinfo"}},
	{"cloudresourcemanager.googleapis.com", []string{"/v1/projects/*", "/v3/projects/*"}},
	// IAP's signing keys.
	{"www.gstatic.com", []string{"/iap/verify/public_key", "/iap/verify/public_key-jwk"}},
	// The device flow's verification_url, where the user enters the code.
	{"www.google.com", []string{"/device"}},
}

// grpcIAMCredentials is the path prefix of IAM Credentials' gRPC service,
// which Google's generated Go client calls over HTTP/2.
const grpcIAMCredentials = "/google.iam.credentials.v1.IAMCredentials/"

// metadataHosts are the plain-HTTP names of the GCE metadata server.
var metadataHosts = []string{"metadata.google.internal", "169.254.169.254"}

// table is the routes of one universe.
type table []route

// routesIn returns the hosts the proxy emulates for universe ("" means
// googleapis.com): Google's public table, or for another universe the
// googleapis.com hosts under that domain (oauth2.{universe},
// iamcredentials.{universe}, sts.{universe}, …), the names Google's
// libraries derive from a universe domain. Hosts outside googleapis.com
// (accounts.google.com, www.gstatic.com, www.google.com) are no part of a
// universe and are left out, so a client that does not derive its
// endpoints from the universe is refused rather than answered.
func routesIn(universe string) table {
	if universe == "" || universe == endpoints.DefaultUniverse {
		return routes
	}
	var t table
	for _, r := range routes {
		if api, ok := strings.CutSuffix(r.host, "."+endpoints.DefaultUniverse); ok {
			t = append(t, route{host: api + "." + universe, paths: r.paths})
		}
	}
	return t
}

func (t table) hosts() []string {
	hs := make([]string, len(t))
	for i, r := range t {
		hs[i] = r.host
	}
	return hs
}

// emulated reports whether host (no port) is one of t's.
func (t table) emulated(host string) bool {
	return slices.ContainsFunc(t, func(r route) bool { return r.host == strings.ToLower(host) })
}

// servesGRPC reports whether host answers gRPC, so is offered HTTP/2.
func (t table) servesGRPC(host string) bool {
	return strings.HasPrefix(strings.ToLower(host), endpoints.ServiceIAMCredentials+".") && t.emulated(host)
}

// hostServes reports whether host serves path.
func (t table) hostServes(host, path string) bool {
	for _, r := range t {
		if r.host == host {
			return r.serves(path)
		}
	}
	return false
}

// googleURL returns the URL path is served under, or false if no host of t
// serves it.
func (t table) googleURL(path string) (string, bool) {
	for _, r := range t {
		if r.serves(path) {
			return "https://" + r.host + path, true
		}
	}
	return "", false
}

// Hosts returns the Google host names served over TLS in Google's public
// universe.
func Hosts() []string { return routes.hosts() }

// HostsIn returns the host names served over TLS for universe (see
// Options.UniverseDomain); "" means googleapis.com.
func HostsIn(universe string) []string { return routesIn(universe).hosts() }

// Emulated reports whether host (no port) is one of Hosts.
func Emulated(host string) bool { return routes.emulated(host) }

func isMetadataHost(host string) bool {
	return slices.Contains(metadataHosts, strings.ToLower(host))
}

func (r route) serves(path string) bool {
	for _, p := range r.paths {
		if pathMatches(p, path) {
			return true
		}
	}
	return false
}

// pathMatches matches path against a route pattern: exactly, as a prefix
// when the pattern ends in "/", with "*" standing for one non-empty segment.
func pathMatches(pattern, path string) bool {
	if strings.HasSuffix(pattern, "/") {
		return strings.HasPrefix(path, pattern)
	}
	if !strings.Contains(pattern, "*") {
		return pattern == path
	}
	want, got := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if want[i] == "*" && got[i] == "" || want[i] != "*" && want[i] != got[i] {
			return false
		}
	}
	return true
}

// GoogleURL returns the URL Google serves path under (e.g. "/token" →
// "https://oauth2.googleapis.com/token"), or false if no emulated host
// serves it.
func GoogleURL(path string) (string, bool) { return routes.googleURL(path) }

// GoogleURLs rewrites a credential file written by fakegoogle: every string
// that starts with fakeBase (the fake's base URL, e.g.
// "http://127.0.0.1:8086") and continues with a path an emulated host serves
// becomes that Google URL. Other strings, such as the sample service's URL,
// are kept. Nested objects (an impersonated file's source_credentials) are
// rewritten too. The result is indented like the input, keys sorted.
func GoogleURLs(file []byte, fakeBase string) ([]byte, error) {
	return GoogleURLsIn(file, fakeBase, "")
}

// GoogleURLsIn is GoogleURLs for the hosts of universe ("" means
// googleapis.com): a file of a fake of another universe gets that
// universe's URLs (https://oauth2.{universe}/token, …).
func GoogleURLsIn(file []byte, fakeBase, universe string) ([]byte, error) {
	fakeBase = strings.TrimRight(fakeBase, "/")
	if fakeBase == "" {
		return nil, fmt.Errorf("googlehosts: rewrite credential file: empty base URL")
	}
	var v any
	if err := json.Unmarshal(file, &v); err != nil {
		return nil, fmt.Errorf("googlehosts: rewrite credential file: %w", err)
	}
	v = rewrite(v, fakeBase, routesIn(universe))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("googlehosts: rewrite credential file: %w", err)
	}
	return buf.Bytes(), nil
}

func rewrite(v any, base string, t table) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = rewrite(e, base, t)
		}
	case []any:
		for i, e := range x {
			x[i] = rewrite(e, base, t)
		}
	case string:
		if rest, ok := strings.CutPrefix(x, base); ok && strings.HasPrefix(rest, "/") {
			path, query, _ := strings.Cut(rest, "?")
			if u, ok := t.googleURL(path); ok {
				if query != "" {
					u += "?" + query
				}
				return u
			}
		}
	}
	return v
}

// splitHostPort splits "host:port", defaulting the port when absent. The
// host is lower-cased and loses a trailing dot: Node's gcp-metadata asks for
// the fully qualified "metadata.google.internal.".
func splitHostPort(hostport, defaultPort string) (host, port string) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		h, p = strings.Trim(hostport, "[]"), defaultPort
	}
	return strings.TrimSuffix(strings.ToLower(h), "."), p
}
