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
