package cli

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/credentials/gcloudstore"
	"github.com/gcptoken/gcptoken/internal/diskcache"
)

// Completion of flag values: formats, shells, scopes, the audiences of
// cached ID tokens, gcloud's accounts, credential files. The functions are
// registered only when the shell asks for a completion (cobra's hidden
// __complete command), so no other run pays for them.

// isCompletionRequest reports whether args ask cobra's hidden completion
// command.
func isCompletionRequest(args []string) bool {
	return len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd)
}

// commonScopes are the scopes offered for --scopes: the short names most
// used, which parseScopes expands.
var commonScopes = []string{
	"cloud-platform", "cloud-platform.read-only", "userinfo.email", "openid", "email", "profile",
	"devstorage.read_only", "devstorage.read_write", "devstorage.full_control", "bigquery", "pubsub",
	"compute", "compute.readonly", "datastore", "logging.write", "monitoring.write", "sqlservice.admin",
	"drive", "drive.readonly", "spreadsheets", "gmail.send", "calendar",
}

// registerCompletions adds value completion to the flags of every command
// under root that has one of the flags below.
func registerCompletions(root *cobra.Command, app *App) {
	fixed := func(values ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
	}
	jsonFiles := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"json"}, cobra.ShellCompDirectiveFilterFileExt
	}
	dirs := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveFilterDirs
	}
	byName := map[string]cobra.CompletionFunc{
		"shell":           fixed(shellPOSIX, shellFish, shellPowerShell, shellCmd),
		"scopes":          completeScopes,
		"token-format":    fixed(credentials.TokenFormatStandard, credentials.TokenFormatFull),
		"credentials":     jsonFiles,
		"access-boundary": jsonFiles,
		"client-id-file":  jsonFiles,
		"config":          jsonFiles,
		"output-file":     jsonFiles,
		"state-dir":       dirs,
		"ca-dir":          dirs,
		"audience": func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return cachedAudiences(app), cobra.ShellCompDirectiveNoFileComp
		},
		"account": func(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
			return gcloudAccounts(c.Context(), app), cobra.ShellCompDirectiveNoFileComp
		},
		"impersonate-service-account": func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return cachedPrincipals(app), cobra.ShellCompDirectiveNoFileComp
		},
		"timeout": fixed("10s", "30s", "1m", "5m"),
	}
	byName["audiences"] = byName["audience"]
	root.RegisterFlagCompletionFunc("log-level", fixed("debug", "info", "warn", "error"))
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		for name, fn := range byName {
			if cmd.LocalNonPersistentFlags().Lookup(name) != nil {
				cmd.RegisterFlagCompletionFunc(name, fn)
			}
		}
		if cmd.LocalNonPersistentFlags().Lookup("format") != nil {
			formats := []string{"text", "json"}
			if cmd.Name() == "print-access-token" || cmd.Name() == "print-identity-token" {
				formats = []string{"text", "json", "header", "env"}
			}
			cmd.RegisterFlagCompletionFunc("format", fixed(formats...))
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// completeScopes offers commonScopes for the last of the comma-separated
// scopes being typed, after those already typed.
func completeScopes(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	typed := ""
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		typed = toComplete[:i+1]
	}
	var out []string
	for _, s := range commonScopes {
		if candidate := typed + s; strings.HasPrefix(candidate, toComplete) {
			out = append(out, candidate)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// cachedAudiences are the audiences of the cached ID tokens, and the
// emulator's sample service when env.sh named it.
func cachedAudiences(app *App) []string {
	var out []string
	if s := app.Getenv(envSampleURL); s != "" {
		out = append(out, s)
	}
	dir, err := cacheDir(app)
	if err != nil {
		return out
	}
	l, _ := (&diskcache.Cache{Dir: dir}).List()
	for _, e := range l {
		if e.Audience != "" && !slices.Contains(out, e.Audience) {
			out = append(out, e.Audience)
		}
	}
	return out
}

// gcloudAccounts are the accounts signed in to gcloud.
func gcloudAccounts(ctx context.Context, app *App) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	l, err := credentials.ListGcloudAccounts(ctx, &credentials.Options{
		Getenv: app.Getenv, HomeDir: app.Getenv("HOME"), GcloudStore: gcloudstore.Store{},
	})
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range l.Accounts {
		out = append(out, a.Account)
	}
	return out
}
