package cli

import "github.com/spf13/cobra"

// CommandTree returns gcptoken's command tree, for tools that document it
// (internal/cli/mkman writes the man pages from it). Its commands are not
// meant to be run: they are wired to no input or output.
func CommandTree() *cobra.Command {
	return newRootCmd(&App{})
}
