package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/credentials/gcloudstore"
	"github.com/gcptoken/gcptoken/internal/diskcache"
	"github.com/gcptoken/gcptoken/internal/jwtinfo"
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
they are now), the accounts signed in to gcloud, the active one marked
with '*' (each account's credential type and whom its tokens are for;
--account ACCOUNT uses one of them), and the tokens in gcptoken's cache:
whom each is for, its kind, scopes or audience, and when it expires.
Prints no secrets (never a token) and fetches no token; problems are
reported in the listing (exit status 0).`,
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
				Cache:  cacheStatus(app),
			}
			if o.format == "json" {
				return writeJSON(app.Out, r)
			}
			return r.writeText(app.Out)
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "text", "output `FORMAT`: text or json")
	bindTimeout(cmd, app, 0)
	return cmd
}

// statusReport is what `status` shows, one section per field: a new
// section (the token cache, say) is one more field, its function, and its
// lines in writeText.
type statusReport struct {
	ADC    adcReport    `json:"adc"`
	Gcloud gcloudReport `json:"gcloud"`
	Cache  cacheReport  `json:"cache"`
}

// cacheReport is the on-disk token cache: every entry, without its token.
type cacheReport struct {
	Dir    string        `json:"dir,omitempty"`
	Tokens []cachedToken `json:"tokens"`
	Error  string        `json:"error,omitempty"`
	now    time.Time
}

type cachedToken struct {
	Principal string   `json:"principal,omitempty"`
	Kind      string   `json:"kind"`
	Scopes    []string `json:"scopes,omitempty"`
	Audience  string   `json:"audience,omitempty"`
	Expiry    string   `json:"expiry"`
	ExpiresIn int64    `json:"expires_in"`
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

// cacheStatus lists the cached tokens: whom each is for and what it was
// asked for, never the token.
func cacheStatus(app *App) cacheReport {
	r := cacheReport{Tokens: []cachedToken{}, now: app.Now()}
	dir, err := cacheDir(app)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Dir = dir
	l, err := (&diskcache.Cache{Dir: dir, Now: app.Now}).List()
	if err != nil {
		r.Error = err.Error()
	}
	for _, e := range l {
		r.Tokens = append(r.Tokens, cachedToken{Principal: e.Principal, Kind: string(e.Kind), Scopes: e.Scopes, Audience: e.Audience,
			Expiry: e.Expiry.UTC().Format(time.RFC3339), ExpiresIn: int64(e.Expiry.Sub(r.now) / time.Second)})
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
	// Each value is escaped and kept on one line by itself, so that the
	// padding of the columns survives.
	line := func(indent int, format string, args ...any) {
		for i, a := range args {
			if s, ok := a.(string); ok {
				args[i] = safetext.OneLine(s)
			}
		}
		b.WriteString(strings.Repeat("  ", indent))
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	line(0, "Application Default Credentials:")
	if r.ADC.Error != "" {
		line(1, "%s", r.ADC.Error)
	} else {
		line(1, "%s %s (%s)", r.ADC.Type, orUnknown(r.ADC.Principal), r.ADC.Step)
		line(2, "from %s", r.ADC.Source)
	}
	r.Gcloud.writeText(line)
	r.Cache.writeText(line)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeText lists gcloud's accounts, as `gcloud auth list` does.
func (g gcloudReport) writeText(line func(indent int, format string, args ...any)) {
	if g.Error != "" {
		line(0, "gcloud accounts:")
		line(1, "%s", g.Error)
		return
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
}

// writeText lists the cached tokens, one per line.
func (c cacheReport) writeText(line func(indent int, format string, args ...any)) {
	if c.Error != "" && c.Dir == "" {
		line(0, "Cached tokens:")
		line(1, "%s", c.Error)
		return
	}
	line(0, "Cached tokens (%s):", c.Dir)
	if c.Error != "" {
		line(1, "%s", c.Error)
	}
	if len(c.Tokens) == 0 {
		line(1, "none")
		return
	}
	width := 0
	for _, t := range c.Tokens {
		width = max(width, len(orUnknown(t.Principal)))
	}
	for _, t := range c.Tokens {
		what := "access token"
		aim := "scopes " + strings.Join(shortScopes(t.Scopes), ",")
		if t.Kind == string(gcptoken.IDToken) {
			what, aim = "ID token", "audience "+t.Audience
		} else if len(t.Scopes) == 0 {
			aim = "the credential's own scopes"
		}
		exp, _ := time.Parse(time.RFC3339, t.Expiry)
		when := "expires " + jwtinfo.Describe(exp.Sub(c.now))
		if !exp.After(c.now) {
			when = "expired " + jwtinfo.Describe(exp.Sub(c.now))
		}
		line(1, "%-*s  %-12s  %s, %s", width, orUnknown(t.Principal), what, aim, when)
	}
	line(1, "(`gcptoken cache clear PRINCIPAL` drops one principal's tokens, `gcptoken cache clear` all)")
}

// shortScopes writes Google's scope URLs by their short names, as
// --scopes takes them.
func shortScopes(scopes []string) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = strings.TrimPrefix(s, credentials.ScopePrefix)
	}
	return out
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
