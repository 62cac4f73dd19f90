package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/credentials"
)

type explainOptions struct {
	creds credFlags
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
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			creds, err := o.creds.load(cmd.Context(), app)
			var none *credentials.NoCredentialsError
			if errors.As(err, &none) {
				// Show what was tried before failing.
				fmt.Fprint(app.Out, formatSteps(none.Steps))
			}
			if err != nil {
				return err
			}
			var b strings.Builder
			b.WriteString(formatSteps(creds.Steps))
			fmt.Fprintln(&b, "Selected credential:")
			field := func(name, value string) {
				if value != "" {
					fmt.Fprintf(&b, "  %-16s %s\n", name+":", value)
				}
			}
			field("type", creds.Type)
			field("source", creds.Source)
			field("principal", creds.Principal)
			field("client id", creds.ClientID)
			field("project", creds.ProjectID)
			field("quota project", creds.QuotaProjectID)
			field("universe", creds.UniverseDomain)
			field("token endpoint", strings.Join(creds.TokenEndpoints(), ", "))
			if o.creds.noCache {
				field("token cache", "disabled (--no-cache)")
			} else if dir, err := cacheDir(app); err == nil {
				field("token cache", dir)
			}
			_, err = fmt.Fprint(app.Out, b.String())
			return err
		},
	}
	o.creds.bind(cmd.Flags())
	return cmd
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
