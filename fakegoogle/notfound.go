package fakegoogle

import (
	"fmt"
	"html"
	"net/http"
)

// notFoundPage is the page every Google host answers an unknown path with
// [obs: protocol.md §9.2, the same on googleapis.com and the metadata
// server], so a client that shows or parses a 404 sees what it would see at
// Google.
const notFoundPage = `<!DOCTYPE html>
<html lang=en>
  <meta charset=utf-8>
  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">
  <title>Error 404 (Not Found)!!1</title>
  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>
  <p><b>404.</b> <ins>That’s an error.</ins>
  <p>The requested URL <code>%s</code> was not found on this server.  <ins>That’s all we know.</ins>
`

// WriteNotFound answers r with Google's HTML 404 page. googlehosts uses it
// for a path asked of the wrong host.
func WriteNotFound(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if len(path) > 200 {
		path = path[:200] + "…"
	}
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintf(w, notFoundPage, html.EscapeString(path))
}
