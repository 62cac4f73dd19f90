package cli

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/internal/diskcache"
	"github.com/gcptoken/gcptoken/internal/safetext"
)

func newCacheCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Manage the on-disk token cache",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "clear [PRINCIPAL]",
		Short: "Delete every cached token, or one principal's",
		Long: `Delete the cached tokens: all of them, or with PRINCIPAL (an email or
federated principal, as 'gcptoken status' lists them) only that
principal's, of every kind, scope and audience. The next command fetches
new ones.`,
		Example: `  gcptoken cache clear
  gcptoken cache clear deployer@my-project.iam.gserviceaccount.com`,
		Args: cobra.MaximumNArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return cachedPrincipals(app), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(_ *cobra.Command, args []string) error {
			dir, err := cacheDir(app)
			if err != nil {
				return err
			}
			c := &diskcache.Cache{Dir: dir}
			if len(args) == 1 {
				n, err := c.ForgetPrincipal(args[0])
				if err != nil {
					return fmt.Errorf("clear %s's tokens in %s: %w", args[0], dir, err)
				}
				_, err = fmt.Fprintf(app.Out, "Removed %d cached token(s) of %s from %s\n", n, safetext.OneLine(args[0]), dir)
				return err
			}
			n, err := c.Clear()
			if err != nil {
				return fmt.Errorf("clear token cache %s: %w", dir, err)
			}
			_, err = fmt.Fprintf(app.Out, "Removed %d cached token(s) from %s\n", n, dir)
			return err
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "dir",
		Short: "Print the cache directory",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			dir, err := cacheDir(app)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(app.Out, dir)
			return err
		},
	})
	return cmd
}

// cachedPrincipals are the principals with tokens in the cache, for
// completion.
func cachedPrincipals(app *App) []string {
	dir, err := cacheDir(app)
	if err != nil {
		return nil
	}
	l, _ := (&diskcache.Cache{Dir: dir}).List()
	var out []string
	for _, e := range l {
		if e.Principal != "" && !slices.Contains(out, e.Principal) {
			out = append(out, e.Principal)
		}
	}
	return out
}
