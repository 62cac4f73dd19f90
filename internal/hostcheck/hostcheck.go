// Package hostcheck keeps web pages away from gcptoken's local servers (the
// metadata server, the authenticating proxy, the emulator), which answer
// anyone who can reach their port. A browser on the same machine can, in
// two ways:
//
//   - DNS rebinding: a page at http://attacker.example:8087/ re-resolves its
//     own name to 127.0.0.1, so the browser sends the page's requests to the
//     local server and lets the page read the answers: as far as the
//     browser knows, they come from the page's own origin. The one trace is
//     the Host header, which carries the attacker's name. A Guard refuses
//     names the server does not serve.
//   - Cross-site requests: a page on another site sends a form post, a
//     no-cors fetch or a CORS preflight to the server. It cannot read the
//     answer, but the request has its effect (through the proxy, with the
//     user's token). Browsers mark such requests with Sec-Fetch-Site and
//     Origin; CrossSite reads both.
//
// Non-browser clients (Google's client libraries, curl, gcloud) send a Host
// the server serves and neither header, so they pass.
package hostcheck

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Guard decides which Host headers a server answers. It always accepts
// IP address literals other than 0.0.0.0 and :: (DNS rebinding needs a
// name: a page cannot make the browser send an address literal to a
// server unless the page was loaded from that very server), "localhost",
// and a request without Host (HTTP/1.0; browsers always send one); then
// the names it was made with. A Guard is safe for concurrent use.
type Guard struct {
	anyPort map[string]bool // "name": any port
	onePort map[string]bool // "name:port"
}

// New returns a Guard that also accepts names: each a host name, "name"
// for any port or "name:port" for one port, compared case-insensitively
// and without a trailing dot. An IPv6 address with a port is written
// "[::1]:8080".
func New(names ...string) (*Guard, error) {
	g := &Guard{anyPort: map[string]bool{}, onePort: map[string]bool{}}
	for _, n := range names {
		if err := g.add(n); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func (g *Guard) add(name string) error {
	if name == "" || strings.ContainsAny(name, "/@?#*\\ \t\r\n") {
		return fmt.Errorf("host name %q: want a host name or host:port, without scheme or path (e.g. myhost.example or myhost.example:8087)", name)
	}
	host, port, err := net.SplitHostPort(name)
	if err != nil {
		if strings.HasPrefix(name, "[") || strings.Count(name, ":") == 1 {
			return fmt.Errorf("host name %q: want a host name or host:port (e.g. myhost.example or myhost.example:8087)", name)
		}
		g.anyPort[normalize(name)] = true
		return nil
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
		return fmt.Errorf("host name %q: want a host name or host:port with a port from 1 to 65535", name)
	}
	g.onePort[net.JoinHostPort(normalize(host), port)] = true
	return nil
}

// normalize lower-cases a host and drops one trailing dot: Node's
// gcp-metadata asks for the fully qualified "metadata.google.internal.".
func normalize(host string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
}

// AllowsHost reports whether the server answers to hostport, a request's
// Host ("name", "name:port", "[::1]:port").
func (g *Guard) AllowsHost(hostport string) bool {
	if hostport == "" {
		return true
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	}
	host = normalize(host)
	if host == "localhost" {
		return true
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return !ip.Unmap().IsUnspecified()
	}
	if g == nil {
		return false
	}
	return g.anyPort[host] || port != "" && g.onePort[net.JoinHostPort(host, port)]
}

// Status codes of the refusals. A foreign Host gets 421 Misdirected
// Request: RFC 9110 §15.5.20 defines it for a request sent to a server
// that does not serve the named authority, which is exactly what a
// rebound name is, and it tells a confused client apart from an
// authorization failure. A cross-site request is well addressed but
// refused by policy: 403.
const (
	StatusForeignHost = http.StatusMisdirectedRequest
	StatusCrossSite   = http.StatusForbidden
)

// maxQuoted caps an outside value quoted in a refusal.
const maxQuoted = 100

func quote(s string) string {
	if len(s) > maxQuoted {
		s = s[:maxQuoted] + "…"
	}
	return strconv.Quote(s)
}

// CheckHost returns nil when the Guard accepts r's Host, else the one-line
// reason to refuse it with StatusForeignHost. allowFlag names the option
// that would accept the name (e.g. "--allow-host"), for the message; ""
// when there is none.
func (g *Guard) CheckHost(r *http.Request, allowFlag string) error {
	if g.AllowsHost(r.Host) {
		return nil
	}
	return fmt.Errorf("refusing Host %s: not a name this server answers to (a web page that rebinds its DNS name to this address sends its own name)%s",
		quote(r.Host), hint(allowFlag, "to accept a name clients really use"))
}

// hint is the message's advice to use allowFlag, or "" without one.
func hint(allowFlag, what string) string {
	if allowFlag == "" {
		return ""
	}
	return "; start the server with " + allowFlag + " " + what
}

// ErrCrossSite is wrapped by CrossSite's errors.
var ErrCrossSite = errors.New("a web page on another site sent this request")

// CrossSite returns nil unless a browser says r comes from a page of
// another origin: Sec-Fetch-Site is "cross-site" or "same-site" (another
// port of localhost is the same site), or, from browsers too old to send
// Sec-Fetch-Site, an Origin other than the Host's. This is the algorithm
// of net/http's CrossOriginProtection, which is not used itself because it
// lets GET, HEAD and OPTIONS through, as suits an application's own
// handlers; a server that hands out tokens, or a proxy that adds one to
// whatever the request does, needs the same verdict for every method
// (a cross-site preflight answered by the backend's CORS headers would let
// the page read through the proxy). allowFlag names the option that
// accepts such requests, for the message; "" when there is none.
func CrossSite(r *http.Request, allowFlag string) error {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "same-origin", "none":
		return nil // the browser's own verdict; Origin adds nothing
	case "":
		// A browser too old for Sec-Fetch-Site, or not a browser: Origin.
	default:
		return fmt.Errorf("refusing a request the browser marks Sec-Fetch-Site: %s: %w%s",
			quote(site), ErrCrossSite, hint(allowFlag, "to accept such requests"))
	}
	origins := r.Header.Values("Origin")
	if len(origins) == 0 {
		return nil
	}
	// An opaque origin ("null": sandboxed frames, file: pages, redirects
	// across origins) or an unparsable one is never the server's own.
	if len(origins) == 1 {
		if u, err := url.Parse(origins[0]); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
			return nil
		}
	}
	return fmt.Errorf("refusing a request from Origin %s to Host %s: %w%s",
		quote(strings.Join(origins, ", ")), quote(r.Host), ErrCrossSite, hint(allowFlag, "to accept such requests"))
}

// Handler returns h behind g: a request with a foreign Host gets
// StatusForeignHost and CheckHost's reason, and never reaches h.
func (g *Guard) Handler(h http.Handler, allowFlag string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := g.CheckHost(r, allowFlag); err != nil {
			WriteRefusal(w, StatusForeignHost, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// WriteRefusal answers with status and err as one line of plain text.
func WriteRefusal(w http.ResponseWriter, status int, err error) {
	msg := "gcptoken: " + err.Error() + "\n"
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
}

// ListenNames returns the names a server listening on listen (host:port)
// answers besides IP addresses and localhost: extra (e.g. --allow-host
// values), each checked as New checks it, and the listen host when it is a
// name rather than an address.
func ListenNames(listen string, extra []string) ([]string, error) {
	if _, err := New(extra...); err != nil {
		return nil, err
	}
	names := slices.Clone(extra)
	if host, _, err := net.SplitHostPort(listen); err == nil && host != "" && net.ParseIP(host) == nil {
		names = append(names, host)
	}
	return names, nil
}
