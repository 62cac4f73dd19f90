package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/credentials"
)

type explainOptions struct {
	creds  credFlags
	format string
}

func newExplainCmd(app *App) *cobra.Command {
	o := &explainOptions{}
	cmd := &cobra.Command{
		Use:   "explain",
		Short: "Show which credentials Application Default Credentials selects, and why",
		Long: `Walk the Application Default Credentials search in Google's order and say,
for each source, whether it was used or why it was skipped; then describe the
chosen credential (type, principal, project, token endpoint). Prints no
secrets and fetches no token.`,
		Example: `  gcptoken explain
  gcptoken explain --format json | jq -r .selected.principal`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return explainRun(cmd, app, o)
		},
	}
	o.creds.bind(cmd.Flags())
	cmd.Flags().StringVar(&o.format, "format", "text", "output `FORMAT`: text or json")
	bindTimeout(cmd, app, 0)
	return cmd
}

// explainJSON is the --format json document.
type explainJSON struct {
	Steps    []explainStep    `json:"steps"`
	Selected *explainSelected `json:"selected,omitempty"`
	// Error says why no credential was selected.
	Error string `json:"error,omitempty"`
}

type explainStep struct {
	Source string `json:"source"`
	Used   bool   `json:"used"`
	Detail string `json:"detail"`
}

type explainSelected struct {
	Type           string   `json:"type"`
	Source         string   `json:"source"`
	Principal      string   `json:"principal,omitempty"`
	ClientID       string   `json:"client_id,omitempty"`
	Project        string   `json:"project,omitempty"`
	QuotaProject   string   `json:"quota_project,omitempty"`
	Universe       string   `json:"universe_domain,omitempty"`
	TokenEndpoints []string `json:"token_endpoints"`
	TokenCache     string   `json:"token_cache,omitempty"` // the directory, or "" with --no-cache
}

func explainRun(cmd *cobra.Command, app *App, o *explainOptions) error {
	if o.format != "text" && o.format != "json" {
		return usagef("--format %q: want text or json", o.format)
	}
	creds, err := o.creds.load(cmd.Context(), app)
	var none *credentials.NoCredentialsError
	if errors.As(err, &none) {
		// Show what was tried before failing.
		if o.format == "json" {
			writeJSON(app.Out, explainJSON{Steps: jsonSteps(none.Steps), Error: err.Error()})
		} else {
			fmt.Fprint(app.Out, formatSteps(none.Steps))
		}
	}
	if err != nil {
		return err
	}
	sel := &explainSelected{
		Type: creds.Type, Source: creds.Source, Principal: creds.Principal, ClientID: creds.ClientID,
		Project: creds.ProjectID, QuotaProject: creds.QuotaProjectID, Universe: creds.UniverseDomain,
		TokenEndpoints: creds.TokenEndpoints(),
	}
	cache := "disabled (--no-cache)"
	if !o.creds.noCache {
		cache = ""
		if dir, err := cacheDir(app); err == nil {
			sel.TokenCache, cache = dir, dir
		}
	}
	if o.format == "json" {
		return writeJSON(app.Out, explainJSON{Steps: jsonSteps(creds.Steps), Selected: sel})
	}
	var b strings.Builder
	b.WriteString(formatSteps(creds.Steps))
	fmt.Fprintln(&b, "Selected credential:")
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "  %-16s %s\n", name+":", value)
		}
	}
	field("type", sel.Type)
	field("source", sel.Source)
	field("principal", sel.Principal)
	field("client id", sel.ClientID)
	field("project", sel.Project)
	field("quota project", sel.QuotaProject)
	field("universe", sel.Universe)
	field("token endpoint", strings.Join(sel.TokenEndpoints, ", "))
	field("token cache", cache)
	_, err = fmt.Fprint(app.Out, b.String())
	return err
}

func jsonSteps(steps []credentials.Step) []explainStep {
	out := []explainStep{}
	for _, s := range steps {
		out = append(out, explainStep{Source: s.Source, Used: s.Used, Detail: s.Detail})
	}
	return out
}

func formatSteps(steps []credentials.Step) string {
	var b strings.Builder
	fmt.Fprintln(&b, "Application Default Credentials search:")
	for i, s := range steps {
		mark := "skipped"
		if s.Used {
			mark = "USED"
		}
		fmt.Fprintf(&b, "  %d. %-32s %-7s %s\n", i+1, s.Source, mark, s.Detail)
	}
	return b.String()
}
