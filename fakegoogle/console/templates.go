package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken/internal/jwtinfo"
)

// The pages are html/template files (templates/), each with the shared
// layout; static/ has the one style sheet and the one small script that
// adds live updates. Every page works without the script.
// scopePrefix starts most of Google's OAuth scopes.
const scopePrefix = "https://www.googleapis.com/auth/"

var pageNames = []string{"requests", "request", "identities", "tokens", "faults", "notfound"}

func (c *Console) parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"clock": func(t time.Time) string { return t.Format("15:04:05.000") },
		"stamp": stamp,
		// fromNow is a time seen from the fake's clock: "in 59 minutes".
		"fromNow": func(t time.Time) string { return jwtinfo.Describe(t.Sub(c.fake.Now())) },
		"join":    strings.Join,
		"ms": func(d time.Duration) string {
			return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
		},
		"words": words,
		// short cuts long text for a table cell; the request's page has
		// all of it.
		"short": func(s string, n int) string {
			if r := []rune(s); len(r) > n {
				return string(r[:n-1]) + "…"
			}
			return s
		},
		// scopes drops the common prefix of Google's scope URLs, as
		// people say them ("cloud-platform").
		"scopes": func(s string) string { return strings.ReplaceAll(s, scopePrefix, "") },
	}
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}
