package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/credhelper/gitcred"
)

type gitCredentialOptions struct {
	helperOptions
	hosts []string
}

func newGitCredentialCmd(app *App) *cobra.Command {
	o := &gitCredentialOptions{}
	cmd := &cobra.Command{
		Use:   "git-credential get|store|erase",
		Short: "Git credential helper for Google's git hosts (Cloud Source Repositories, Secure Source Manager)",
		Long: `Serve git's credential-helper protocol: for an https remote on
source.developers.google.com, *.sourcemanager.dev, *.googlesource.com,
*.blueoryx.dev, *.developerconnect.dev or a --hosts host, 'get' prints
username=oauth2accesstoken, password=<access token> and password_expiry_utc.
For any other remote it prints nothing, so git asks its next helper. store
does nothing: tokens are minted, never stored. erase (git's answer to a
refused token) drops that token from gcptoken's token cache, so that the
next get mints a new one.

Set it up with 'gcptoken configure-git'.`,
		Example: `  git config --global credential.https://source.developers.google.com.helper ''
  git config --global --add credential.https://source.developers.google.com.helper "$(command -v gcptoken) git-credential"
  printf 'protocol=https\nhost=source.developers.google.com\n\n' | gcptoken git-credential get`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hosts, err := checkHosts("--hosts", o.hosts, true)
			if err != nil {
				return err
			}
			h := &gitcred.Helper{Provider: o.provider(app), Erase: o.erase(app), Hosts: hosts}
			var out bytes.Buffer
			if err := h.Serve(cmd.Context(), args[0], app.In, &out); err != nil {
				return fmt.Errorf("git-credential %s: %w", args[0], err)
			}
			_, err = app.Out.Write(out.Bytes())
			return err
		},
	}
	o.bind(cmd.Flags())
	cmd.Flags().StringSliceVar(&o.hosts, "hosts", nil, "also serve these `HOSTS` (host, host:port or *.domain), comma-separated")
	bindTimeout(cmd, app, 0)
	return cmd
}

type configureGitOptions struct {
	helper helperArgs
	hosts  []string
	write  bool
	// config is git's configuration. Optional; default the global one,
	// edited with git (tests set a gitcred.FakeHelperConfig).
	config gitcred.HelperConfig
}

func newConfigureGitCmd(app *App) *cobra.Command {
	o := &configureGitOptions{}
	cmd := &cobra.Command{
		Use:   "configure-git",
		Short: "Print or run the git config commands that make git use gcptoken",
		Long: `Print the 'git config --global' commands that make git ask
'gcptoken git-credential' for https://HOST credentials, or run them with
--write. Each host's helper list is reset first (an empty helper), so that a
credential store such as osxkeychain cannot keep serving an expired token.

Without --hosts it sets up source.developers.google.com (Cloud Source
Repositories). Secure Source Manager instances: --hosts '*.sourcemanager.dev'
or the instance's git host. Hosts outside Google's are passed to the helper
with --hosts.`,
		Example: `  gcptoken configure-git
  gcptoken configure-git --write --hosts '*.sourcemanager.dev'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return configureGitRun(cmd.Context(), app, o)
		},
	}
	o.helper.bind(cmd.Flags())
	cmd.Flags().StringSliceVar(&o.hosts, "hosts", nil, "git `HOSTS` to set up (host, host:port or *.domain), comma-separated (default source.developers.google.com)")
	cmd.Flags().BoolVar(&o.write, "write", false, "run the git config commands instead of printing them")
	return cmd
}

func configureGitRun(ctx context.Context, app *App, o *configureGitOptions) error {
	hosts := gitcred.DefaultConfigHosts
	if len(o.hosts) > 0 {
		var err error
		if hosts, err = checkHosts("--hosts", o.hosts, true); err != nil {
			return err
		}
	}
	args, err := o.helper.args()
	if err != nil {
		return err
	}
	// The helper must also serve the hosts it is set up for that are not
	// Google's.
	var extra []string
	for _, h := range hosts {
		if !gitcred.ServedByDefault(h) {
			extra = append(extra, h)
		}
	}
	if len(extra) > 0 {
		args = append(args, "--hosts="+strings.Join(extra, ","))
	}
	exe, err := selfPath()
	if err != nil {
		return err
	}
	helper := gitcred.HelperCommand(runtime.GOOS, exe, args)
	if !o.write {
		_, err := io.WriteString(app.Out, gitcred.ConfigScript(hosts, helper))
		return err
	}
	config := o.config
	if config == nil {
		config = &gitcred.GlobalConfig{Getenv: app.Getenv}
	}
	if err := config.ConfigureHelper(ctx, hosts, helper); err != nil {
		return fmt.Errorf("configure-git: %w", err)
	}
	fmt.Fprintf(app.Out, "git now asks gcptoken for https://%s credentials (git config --global)\n", strings.Join(hosts, ", https://"))
	return nil
}
