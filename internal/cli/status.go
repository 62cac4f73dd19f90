package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/credentials/gcloudstore"
	"github.com/gcptoken/gcptoken/internal/safetext"
)

type statusOptions struct {
	format string
}

func newStatusCmd(app *App) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the credentials gcptoken would use and gcloud's signed-in accounts",
		Long: `Show the credential Application Default Credentials would use (with
GOOGLE_APPLICATION_CREDENTIALS, gcloud's variables and configuration as
they are now) and the accounts signed in to gcloud, the active one marked
with '*': each account's credential type and whom its tokens are for.
--account ACCOUNT uses one of them. Prints no secrets and fetches no
token; problems are reported in the listing (exit status 0).`,
		Example: `  gcptoken status
  gcptoken status --format json | jq -r '.gcloud.accounts[].account'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.format != "text" && o.format != "json" {
				return usagef("--format %q: want text or json", o.format)
			}
			r := statusReport{
				ADC:    adcStatus(cmd.Context(), app),
				Gcloud: gcloudStatus(cmd.Context(), app),
			}
			if o.format == "json" {
				return writeJSON(app.Out, r)
			}
			return r.writeText(app.Out)
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "text", "output `FORMAT`: text or json")
	return cmd
}

// statusReport is what `status` shows, one section per field: a new
// section (the token cache, say) is one more field, its function, and its
// lines in writeText.
type statusReport struct {
	ADC    adcReport    `json:"adc"`
	Gcloud gcloudReport `json:"gcloud"`
}

// adcReport is the credential Application Default Credentials selects.
type adcReport struct {
	// Step is the ADC step that found it ("gcloud accounts", …).
	Step      string `json:"step,omitempty"`
	Type      string `json:"type,omitempty"`
	Principal string `json:"principal,omitempty"`
	Source    string `json:"source,omitempty"`
	// Error says why there is none.
	Error string `json:"error,omitempty"`
}

type gcloudReport struct {
	Dir           string          `json:"config_dir,omitempty"`
	Configuration string          `json:"configuration,omitempty"`
	Active        string          `json:"active_account,omitempty"`
	ActiveFrom    string          `json:"active_account_from,omitempty"`
	Impersonate   string          `json:"impersonate_service_account,omitempty"`
	Accounts      []gcloudAccount `json:"accounts"`
	Error         string          `json:"error,omitempty"`
}

type gcloudAccount struct {
	Account   string `json:"account"`
	Type      string `json:"type"`
	Principal string `json:"principal"`
	Universe  string `json:"universe_domain"`
	Active    bool   `json:"active"`
}

// adcStatus runs the credential search as a command with no credential
// flags would.
func adcStatus(ctx context.Context, app *App) adcReport {
	creds, err := (&credFlags{}).load(ctx, app)
	var none *credentials.NoCredentialsError
	switch {
	case errors.As(err, &none):
		return adcReport{Error: "none found (`gcptoken explain` shows where it looked)"}
	case err != nil:
		return adcReport{Error: err.Error()}
	}
	r := adcReport{Type: creds.Type, Principal: creds.Principal, Source: creds.Source}
	for _, s := range creds.Steps {
		if s.Used {
			r.Step = s.Source
		}
	}
	return r
}

// gcloudStatus lists gcloud's accounts, as `gcloud auth list` does.
func gcloudStatus(ctx context.Context, app *App) gcloudReport {
	l, err := credentials.ListGcloudAccounts(ctx, &credentials.Options{
		Getenv: app.Getenv, HomeDir: app.Getenv("HOME"), GcloudStore: gcloudstore.Store{},
	})
	if err != nil {
		return gcloudReport{Error: err.Error(), Accounts: []gcloudAccount{}}
	}
	r := gcloudReport{Dir: l.Dir, Configuration: l.Configuration, Active: l.Active, ActiveFrom: l.ActiveFrom,
		Impersonate: l.Impersonate, Accounts: []gcloudAccount{}}
	for _, a := range l.Accounts {
		r.Accounts = append(r.Accounts, gcloudAccount{Account: a.Account, Type: a.Type, Principal: a.Principal,
			Universe: a.UniverseDomain, Active: a.Active})
	}
	return r
}

// writeText writes the report for people. Every value from outside (file
// contents, paths, errors) goes through safetext.
func (r statusReport) writeText(w io.Writer) error {
	var b strings.Builder
	line := func(indent int, format string, args ...any) {
		b.WriteString(strings.Repeat("  ", indent))
		b.WriteString(safetext.OneLine(fmt.Sprintf(format, args...)))
		b.WriteByte('\n')
	}
	line(0, "Application Default Credentials:")
	if r.ADC.Error != "" {
		line(1, "%s", r.ADC.Error)
	} else {
		line(1, "%s %s (%s)", r.ADC.Type, orUnknown(r.ADC.Principal), r.ADC.Step)
		line(2, "from %s", r.ADC.Source)
	}
	g := r.Gcloud
	if g.Error != "" {
		line(0, "gcloud accounts:")
		line(1, "%s", g.Error)
		_, err := io.WriteString(w, b.String())
		return err
	}
	line(0, "gcloud accounts (%s, configuration %q):", g.Dir, g.Configuration)
	if len(g.Accounts) == 0 {
		line(1, "none signed in (`gcloud auth login` or `gcloud auth activate-service-account` signs one in)")
	}
	width := 0
	for _, a := range g.Accounts {
		width = max(width, len(a.Account))
	}
	for _, a := range g.Accounts {
		mark := " "
		if a.Active {
			mark = "*"
		}
		extra := ""
		if a.Principal != a.Account {
			extra += " tokens for " + a.Principal
		}
		if a.Universe != credentials.DefaultUniverseDomain {
			extra += " universe " + a.Universe
		}
		line(1, "%s %-*s  %s%s", mark, width, a.Account, orUnknown(a.Type), extra)
	}
	if g.Active != "" && !hasActive(g.Accounts) {
		line(1, "active account %s (%s) has no credentials here", g.Active, g.ActiveFrom)
	}
	if g.Impersonate != "" {
		line(1, "gcloud impersonates %s (auth/impersonate_service_account)", g.Impersonate)
	}
	if len(g.Accounts) > 0 {
		line(1, "(* active; --account ACCOUNT uses another)")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func hasActive(accounts []gcloudAccount) bool {
	for _, a := range accounts {
		if a.Active {
			return true
		}
	}
	return false
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
