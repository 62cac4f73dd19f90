package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newCompletionCmd replaces cobra's default completion command, which cobra
// builds (four subcommands and their help) on every run; this one costs a
// struct until it is used.
func newCompletionCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script",
		Long: `Print gcptoken's completion script for a shell. Completion covers commands,
flags and flag values.

  bash:       source <(gcptoken completion bash)
              (needs the bash-completion package; to load it in every
              session: gcptoken completion bash > ~/.local/share/bash-completion/completions/gcptoken)
  zsh:        gcptoken completion zsh > "${fpath[1]}/_gcptoken"
              (needs "autoload -U compinit; compinit" in ~/.zshrc)
  fish:       gcptoken completion fish > ~/.config/fish/completions/gcptoken.fish
  powershell: gcptoken completion powershell | Out-String | Invoke-Expression`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			var err error
			switch args[0] {
			case "bash":
				err = root.GenBashCompletionV2(app.Out, true)
			case "zsh":
				err = root.GenZshCompletion(app.Out)
			case "fish":
				err = root.GenFishCompletion(app.Out, true)
			case "powershell":
				err = root.GenPowerShellCompletionWithDesc(app.Out)
			}
			if err != nil {
				return fmt.Errorf("write %s completion: %w", args[0], err)
			}
			return nil
		},
	}
}
