package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
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
	return cmd
}

type configureGitOptions struct {
	helper helperArgs
	hosts  []string
	write  bool
}

// defaultGitHosts are the remotes configure-git sets up without --hosts.
var defaultGitHosts = []string{"source.developers.google.com"}

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
			return configureGitRun(cmd, app, o)
		},
	}
	o.helper.bind(cmd.Flags())
	cmd.Flags().StringSliceVar(&o.hosts, "hosts", nil, "git `HOSTS` to set up (host, host:port or *.domain), comma-separated (default source.developers.google.com)")
	cmd.Flags().BoolVar(&o.write, "write", false, "run the git config commands instead of printing them")
	return cmd
}

func configureGitRun(cmd *cobra.Command, app *App, o *configureGitOptions) error {
	hosts := defaultGitHosts
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
		if !servedByDefault(h) {
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
	helper := gitHelperCommand(runtime.GOOS, exe, args)

	var cmds [][]string
	for _, h := range hosts {
		key := "credential.https://" + h + ".helper"
		cmds = append(cmds,
			[]string{"config", "--global", "--unset-all", key},
			[]string{"config", "--global", "--add", key, ""},
			[]string{"config", "--global", "--add", key, helper})
	}
	if !o.write {
		for _, c := range cmds {
			line := []string{"git"}
			for _, w := range c {
				line = append(line, shellWord(w))
			}
			if c[2] == "--unset-all" {
				line = append(line, "||", "true")
			}
			fmt.Fprintln(app.Out, strings.Join(line, " "))
		}
		return nil
	}
	for _, c := range cmds {
		run := exec.CommandContext(cmd.Context(), "git", c...)
		run.Env = gitEnv(app)
		var stderr bytes.Buffer
		run.Stderr = &stderr
		err := run.Run()
		var ee *exec.ExitError
		if c[2] == "--unset-all" && errors.As(err, &ee) && ee.ExitCode() == 5 {
			// Nothing to unset.
			continue
		}
		if err != nil {
			return fmt.Errorf("configure-git: git %s: %v: %s", strings.Join(c[:3], " "), err, strings.TrimSpace(stderr.String()))
		}
	}
	fmt.Fprintf(app.Out, "git now asks gcptoken for https://%s credentials (git config --global)\n", strings.Join(hosts, ", https://"))
	return nil
}

// gitHelperCommand is the credential helper value that runs exe
// git-credential ARGS. git runs a helper that is an absolute path through
// its shell (Git for Windows' sh too) with the action appended. A path
// that needs quoting (a space, as in C:\Program Files) no longer looks
// absolute to git, which would run "git credential-'…'" instead, so it is
// written as a shell snippet ("!…"). sh reads backslashes as escapes, so
// Windows paths are written with forward slashes, which Windows accepts
// and git still sees as absolute (C:/…). goos is a parameter for the tests.
func gitHelperCommand(goos, exe string, args []string) string {
	if goos == "windows" {
		exe = strings.ReplaceAll(exe, `\`, "/")
	}
	words := []string{shellWord(exe), "git-credential"}
	for _, a := range args {
		words = append(words, shellWord(a))
	}
	helper := strings.Join(words, " ")
	if words[0] != exe {
		helper = "!" + helper
	}
	return helper
}

// servedByDefault reports whether git-credential serves the host pattern
// without --hosts.
func servedByDefault(pattern string) bool {
	for _, p := range gitcred.DefaultHosts {
		if p == pattern || gitcred.MatchHost(p, pattern) {
			return true
		}
	}
	return false
}

// gitEnv is the environment git (and kubectl) run in: PATH, the home
// directory and the variables that choose git's global configuration file,
// taken from app so that tests can point them at a temporary directory.
//
// On Windows a program started without SystemRoot cannot even load its
// networking DLLs, and Git for Windows finds the home directory through
// USERPROFILE or HOMEDRIVE and HOMEPATH when HOME is unset (as it usually
// is there; an empty HOME would be taken as the home), so those pass too.
func gitEnv(app *App) []string {
	env := []string{"PATH=" + app.Getenv("PATH")}
	for _, k := range []string{"HOME", "GIT_CONFIG_GLOBAL", "XDG_CONFIG_HOME", "GIT_CONFIG_NOSYSTEM", "USERPROFILE", "HOMEDRIVE", "HOMEPATH",
		"SystemRoot", "SystemDrive", "windir", "ComSpec", "PATHEXT", "APPDATA", "LOCALAPPDATA", "TEMP", "TMP", "ProgramData"} {
		if v := app.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}
