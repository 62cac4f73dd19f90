package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/internal/diskcache"
)

func newCacheCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Manage the on-disk token cache",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "clear",
		Short: "Delete every cached token",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			dir, err := cacheDir(app)
			if err != nil {
				return err
			}
			n, err := (&diskcache.Cache{Dir: dir}).Clear()
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
