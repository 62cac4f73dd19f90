package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"

	"github.com/gcptoken/gcptoken/internal/hostcheck"
)

// The console edits who may impersonate whom, revokes tokens and mints
// them: it must answer only its user's browser. Four defences, each
// against its own attack:
//
//   - loopbackOnly: another machine, when the emulator listens on a
//     non-loopback address (a container's 0.0.0.0), is refused by its
//     source address, whatever the Host header says;
//   - the emulator's host check (hostcheck.Guard, around the console as
//     around the fake) refuses DNS-rebinding pages;
//   - crossSite: a page of another site (another port of localhost
//     included) is refused by what the browser says (Sec-Fetch-Site,
//     Origin), except for plain navigation to a page, which reads
//     nothing and changes nothing;
//   - a per-session CSRF token in every form: a POST without the token of
//     the session cookie is refused, for browsers that send neither
//     Sec-Fetch-Site nor Origin, and for forms an attacker could get a
//     same-site page to post.

// errNotLoopback is the refusal of a client on another machine.
var errNotLoopback = errors.New("the console answers only this machine's browsers (a loopback source address)")

// loopbackOnly returns nil when r comes from a loopback address.
func loopbackOnly(r *http.Request) error {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return fmt.Errorf("refusing a request from %s: %w", host, errNotLoopback)
	}
	return nil
}

// crossSite returns nil unless a browser says a page of another site sent
// r. A top-level navigation (a link followed, an address typed) passes:
// it only shows a page, never changes anything (only POST does), and the
// page it shows cannot be read by the site that linked to it.
func crossSite(r *http.Request) error {
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		r.Header.Get("Sec-Fetch-Mode") == "navigate" && r.Header.Get("Sec-Fetch-Dest") == "document" {
		return nil
	}
	return hostcheck.CrossSite(r, "")
}

// sessions hands out session cookies and derives each session's CSRF
// token from it with a key only the console knows, so that no store of
// sessions is needed and a cookie planted by another local site (cookies
// ignore ports) does not give its planter the token. Flash messages, the
// outcome of a form shown after its redirect, are kept per session.
type sessions struct {
	key    []byte
	cookie string // the cookie's name
	path   string // and path

	mu    sync.Mutex
	flash map[string]flash
}

// flash is a message for the next page a session shows.
type flash struct {
	Text  string
	Error bool
}

// maxFlashes bounds the flash store: one per browser session is normal.
const maxFlashes = 256

func newSessions(path string) *sessions {
	key := make([]byte, 32)
	rand.Read(key)
	return &sessions{key: key, cookie: "gcptoken_console", path: path, flash: map[string]flash{}}
}

// session returns r's session id, starting a session (a cookie) if it
// has none.
func (s *sessions) session(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(s.cookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	id := make([]byte, 32)
	rand.Read(id)
	v := base64.RawURLEncoding.EncodeToString(id)
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: v, Path: s.path, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return v
}

// csrf is the token a session's forms carry.
func (s *sessions) csrf(session string) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte("gcptoken console csrf\x00" + session))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// errCSRF is the refusal of a form without its session's token.
var errCSRF = errors.New("the form's CSRF token is missing or belongs to another session: reload the console page and submit again")

// checkCSRF returns nil when the POST r carries the token of the session
// its cookie names.
func (s *sessions) checkCSRF(r *http.Request) error {
	c, err := r.Cookie(s.cookie)
	if err != nil || c.Value == "" {
		return errCSRF
	}
	got := r.PostFormValue("csrf")
	if got == "" || !hmac.Equal([]byte(got), []byte(s.csrf(c.Value))) {
		return errCSRF
	}
	return nil
}

func (s *sessions) setFlash(session string, f flash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.flash) >= maxFlashes {
		clear(s.flash)
	}
	s.flash[session] = f
}

func (s *sessions) takeFlash(session string) flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flash[session]
	delete(s.flash, session)
	return f
}

// securityHeaders keep the pages out of frames (clickjacking) and
// caches, and let them load nothing but their own script and style.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}
