// Package redirect keeps requests that carry secrets (refresh tokens,
// client secrets, signed assertions, bearer tokens) from following a
// redirect to another origin.
//
// net/http follows up to ten redirects, and for 307 and 308 sends the POST
// body again: a token endpoint that answers 307 to another host would have
// the refresh token or assertion posted there. It also keeps Authorization
// on redirects to another port of the same host. Google's token, IAM, STS
// and metadata endpoints never redirect across origins, so a client that
// talks to them refuses to.
package redirect

import (
	"fmt"
	"net/http"
	"strings"
)

// maxRedirects is http.Client's own limit, which a CheckRedirect must
// enforce itself.
const maxRedirects = 10

// SameOrigin is an http.Client CheckRedirect function that follows a
// redirect only to the scheme, host and port of the first request (compared
// as written, ignoring case: "host" and "host:443" count as different, which
// can only refuse a harmless redirect, never allow a harmful one).
func SameOrigin(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	first := via[0].URL
	if !strings.EqualFold(req.URL.Scheme, first.Scheme) || !strings.EqualFold(req.URL.Host, first.Host) {
		return fmt.Errorf("refused a redirect from %s://%s to %s://%s: the request carries credentials, which go only to the origin they were meant for",
			first.Scheme, first.Host, req.URL.Scheme, req.URL.Host)
	}
	return nil
}

// Guard returns c if it has a CheckRedirect of its own (its owner chose),
// else a copy of c whose CheckRedirect is SameOrigin. A nil c stays nil.
func Guard(c *http.Client) *http.Client {
	if c == nil || c.CheckRedirect != nil {
		return c
	}
	g := *c
	g.CheckRedirect = SameOrigin
	return &g
}
