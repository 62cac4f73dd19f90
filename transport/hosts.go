package transport

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// pattern is one allowed-host entry.
type pattern struct {
	any      bool   // "*": every host
	wildcard bool   // "*.domain": hosts under domain (host is "domain")
	host     string // canonical hostname
	port     string // "" for any port
}

func (p pattern) matches(host, port string) bool {
	if p.port != "" && p.port != port {
		return false
	}
	switch {
	case p.any:
		return true
	case p.wildcard:
		return strings.HasSuffix(host, "."+p.host)
	}
	return host == p.host
}

func (p pattern) String() string {
	h := p.host
	switch {
	case p.any:
		h = "*"
	case p.wildcard:
		h = "*." + h
	case strings.Contains(h, ":"):
		h = "[" + h + "]"
	}
	if p.port != "" {
		h += ":" + p.port
	}
	return h
}

// parsePattern parses an AllowedHosts entry: "host", "host:port",
// "[v6]:port", "*.domain[:port]" or "*[:port]".
func parsePattern(s string) (pattern, error) {
	bad := func(why string) (pattern, error) { return pattern{}, fmt.Errorf("%q: %s", s, why) }
	if s == "" {
		return bad("empty host")
	}
	if strings.ContainsAny(s, "/?#@ \t") {
		return bad("want a host or host:port, not a URL")
	}
	host, port := s, ""
	if ip, err := netip.ParseAddr(s); err == nil { // a bare IPv6 address has colons but no port
		return pattern{host: ip.String()}, nil
	}
	if strings.Contains(s, ":") {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return bad(err.Error())
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || p[0] == '0' {
			return bad("port must be a number from 1 to 65535")
		}
		host, port = h, p
	}
	var pat pattern
	switch {
	case host == "*":
		pat.any = true
	case strings.HasPrefix(host, "*."):
		pat.wildcard = true
		host = host[2:]
	}
	if !pat.any {
		host = canonicalHost(host)
		if host == "" || strings.Contains(host, "*") || strings.HasPrefix(host, ".") || strings.Contains(host, "..") {
			return bad("not a valid host name")
		}
	}
	pat.host, pat.port = host, port
	return pat, nil
}

// canonicalHost lowercases a hostname and drops a trailing dot, so that
// "API.example.com." and "api.example.com" are one host. IPv6 addresses are
// put in canonical form.
func canonicalHost(h string) string {
	// Only IPv6 has more than one spelling; parsing just those keeps the
	// per-request path free of a failed parse's allocation.
	if strings.Contains(h, ":") {
		if ip, err := netip.ParseAddr(h); err == nil {
			return ip.String()
		}
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// originOfURL returns where u points, with the scheme's default port made
// explicit.
func originOfURL(u *url.URL) origin {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = defaultPort(scheme)
	}
	return origin{scheme, canonicalHost(u.Hostname()), port}
}

// defaultPort returns the port a URL with scheme and no explicit port uses.
func defaultPort(scheme string) string {
	switch scheme {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// origin is where a request goes: scheme, canonical host, port (explicit).
type origin struct{ scheme, host, port string }

// audience returns o as Cloud Run writes a service's audience:
// scheme://host, with the port only when it is not the scheme's default.
func (o origin) audience() string {
	h := o.host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if o.port != defaultPort(o.scheme) {
		h += ":" + o.port
	}
	return o.scheme + "://" + h
}

// maxChain bounds the walk along a redirect chain; http.Client stops at 10
// hops by default.
const maxChain = 100

// leftOrigin reports whether r is a redirect hop (http.Client sets
// r.Response) whose chain has been, or now is, on an origin other than the
// one the caller asked for. Such a hop must not get a token: its target was
// chosen by a server, not by the caller. Like net/http's stripping of
// Authorization, once a chain has left its origin it never gets the token
// back. A chain that cannot be followed counts as having left.
func leftOrigin(r *http.Request) bool {
	if r.Response == nil {
		return false
	}
	here := originOfURL(r.URL)
	for i := 0; r.Response != nil; i++ {
		prev := r.Response.Request
		if prev == nil || prev.URL == nil || i == maxChain || originOfURL(prev.URL) != here {
			return true
		}
		r = prev
	}
	return false
}

// isLoopback reports whether host (canonical) is this machine.
func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// policy decides which requests may get a token.
type policy struct {
	patterns  []pattern
	why       string // where the patterns came from, for errors
	allowHTTP bool
}

// check returns nil if a token may be sent to o, else an error matching
// ErrNotAllowed.
func (p *policy) check(o origin, kind string) error {
	switch {
	case o.scheme == "https":
	case o.scheme == "http" && (p.allowHTTP || isLoopback(o.host)):
	case o.scheme == "http":
		return fmt.Errorf("transport: %w: %s goes only over https, not plain http to %s (or set Options.AllowHTTP)",
			ErrNotAllowed, kind, net.JoinHostPort(o.host, o.port))
	default:
		return fmt.Errorf("transport: %w: %s goes only over https, not to a %q URL", ErrNotAllowed, kind, o.scheme)
	}
	for _, pat := range p.patterns {
		if pat.matches(o.host, o.port) {
			return nil
		}
	}
	return fmt.Errorf("transport: %w: %s may go only to %s (%s), not to %s",
		ErrNotAllowed, kind, p.list(), p.why, net.JoinHostPort(o.host, o.port))
}

// list names the patterns, at most a few of them.
func (p *policy) list() string {
	const show = 5
	var b strings.Builder
	for i, pat := range p.patterns {
		if i == show {
			fmt.Fprintf(&b, " and %d more", len(p.patterns)-show)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pat.String())
	}
	return b.String()
}

// HostPolicy is the rule a Transport applies before it adds a token: which
// hosts may receive it, and over which schemes. Programs that set the
// header themselves (gcptoken curl) use it to send a token only where a
// Transport would, without a second copy of the rules.
type HostPolicy struct{ p policy }

// NewHostPolicy validates allowedHosts (the syntax of Options.AllowedHosts)
// and returns the policy of a Transport with those AllowedHosts and
// AllowHTTP. why says where the list came from, for errors (e.g. "the
// credential's universe domain and --allow-host").
func NewHostPolicy(allowedHosts []string, allowHTTP bool, why string) (*HostPolicy, error) {
	h := &HostPolicy{policy{allowHTTP: allowHTTP, why: why}}
	for _, s := range allowedHosts {
		p, err := parsePattern(s)
		if err != nil {
			return nil, err
		}
		h.p.patterns = append(h.p.patterns, p)
	}
	return h, nil
}

// Check returns nil if a token (what names it, e.g. "an access token") may
// be sent to u, else an error matching ErrNotAllowed that says why.
func (h *HostPolicy) Check(u *url.URL, what string) error {
	return h.p.check(originOfURL(u), what)
}

// SameOrigin reports whether a and b have the same scheme, host and port,
// as a Transport compares a redirect hop with the request the caller made:
// hosts in canonical form, default ports made explicit.
func SameOrigin(a, b *url.URL) bool { return originOfURL(a) == originOfURL(b) }

// IsLoopback reports whether u's host is this machine: localhost, a
// subdomain of localhost, 127.0.0.0/8 or ::1.
func IsLoopback(u *url.URL) bool { return isLoopback(canonicalHost(u.Hostname())) }
