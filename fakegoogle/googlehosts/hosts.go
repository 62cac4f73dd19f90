package googlehosts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
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

var routes = []route{
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

// servesGRPC reports whether host answers gRPC, so is offered HTTP/2.
func servesGRPC(host string) bool {
	return strings.EqualFold(host, "iamcredentials.googleapis.com")
}

// metadataHosts are the plain-HTTP names of the GCE metadata server.
var metadataHosts = []string{"metadata.google.internal", "169.254.169.254"}

// Hosts returns the Google host names served over TLS.
func Hosts() []string {
	hs := make([]string, len(routes))
	for i, r := range routes {
		hs[i] = r.host
	}
	return hs
}

// Emulated reports whether host (no port) is one of Hosts.
func Emulated(host string) bool {
	return slices.ContainsFunc(routes, func(r route) bool { return r.host == strings.ToLower(host) })
}

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

// hostServes reports whether Google's host serves path.
func hostServes(host, path string) bool {
	for _, r := range routes {
		if r.host == host {
			return r.serves(path)
		}
	}
	return false
}

// GoogleURL returns the URL Google serves path under (e.g. "/token" →
// "https://oauth2.googleapis.com/token"), or false if no emulated host
// serves it.
func GoogleURL(path string) (string, bool) {
	for _, r := range routes {
		if r.serves(path) {
			return "https://" + r.host + path, true
		}
	}
	return "", false
}

// GoogleURLs rewrites a credential file written by fakegoogle: every string
// that starts with fakeBase (the fake's base URL, e.g.
// "http://127.0.0.1:8086") and continues with a path an emulated host serves
// becomes that Google URL. Other strings, such as the sample service's URL,
// are kept. Nested objects (an impersonated file's source_credentials) are
// rewritten too. The result is indented like the input, keys sorted.
func GoogleURLs(file []byte, fakeBase string) ([]byte, error) {
	fakeBase = strings.TrimRight(fakeBase, "/")
	if fakeBase == "" {
		return nil, fmt.Errorf("googlehosts: rewrite credential file: empty base URL")
	}
	var v any
	if err := json.Unmarshal(file, &v); err != nil {
		return nil, fmt.Errorf("googlehosts: rewrite credential file: %w", err)
	}
	v = rewrite(v, fakeBase)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("googlehosts: rewrite credential file: %w", err)
	}
	return buf.Bytes(), nil
}

func rewrite(v any, base string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = rewrite(e, base)
		}
	case []any:
		for i, e := range x {
			x[i] = rewrite(e, base)
		}
	case string:
		if rest, ok := strings.CutPrefix(x, base); ok && strings.HasPrefix(rest, "/") {
			path, query, _ := strings.Cut(rest, "?")
			if u, ok := GoogleURL(path); ok {
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
