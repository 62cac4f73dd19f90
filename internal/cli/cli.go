package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/internal/safetext"
)

// App carries what commands take from the outside world, so tests can run
// commands in-process and in parallel.
type App struct {
	In     io.Reader
	Out    io.Writer
	Err    io.Writer
	Getenv func(string) string
	Now    func() time.Time
	// HTTPClient is used for every request a command makes (token
	// endpoints, curl, tokeninfo). Optional.
	HTTPClient *http.Client
	// OpenBrowser opens a URL for `login`. Optional; default the system
	// browser (oauthflow.OpenSystemBrowser). Tests drive a headless one.
	OpenBrowser func(ctx context.Context, url string) error

	// forceProgress shows the status line of slow waits although Err is
	// not a terminal, after progressDelay (default 2s): for tests.
	forceProgress bool
	progressDelay time.Duration
	// progress follows the running command's waits (progress.go); nil
	// outside a command that makes network requests. timeout is the
	// command's --timeout (0: none).
	progress *progress
	timeout  time.Duration
}

// Main runs gcptoken with the process's arguments and streams and returns
// the exit code. It turns SIGINT/SIGTERM into context cancellation so that
// servers shut down cleanly, from the moment a command first waits on its
// context (interruptContext).
func Main() int {
	ctx := newInterruptContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer ctx.Stop()
	app := &App{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, Now: time.Now}
	return Run(ctx, app, mainArgs(os.Args))
}

// Run executes one command line and returns its exit code. Errors are
// printed to app.Err as one line.
func Run(ctx context.Context, app *App, args []string) int {
	app.defaults()
	root := newRootCmdFor(app, args)
	if isCompletionRequest(args) {
		registerCompletions(root, app)
	}
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if qe := (*quietError)(nil); errors.As(err, &qe) {
		return qe.code
	}
	if strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "required flag") {
		// cobra reports these as untyped errors.
		err = &usageError{msg: err.Error()}
	}
	// One line, and nothing in it (a path, a server's words, a field of a
	// hostile file) may act on the terminal.
	fmt.Fprintf(app.Err, "gcptoken: %s\n", safetext.OneLine(err.Error()))
	code := exitCode(err)
	if code == ExitUsage {
		fmt.Fprintln(app.Err, "Run 'gcptoken --help' for usage.")
	}
	return code
}

func (a *App) defaults() {
	if a.In == nil {
		a.In = strings.NewReader("")
	}
	if a.Out == nil {
		a.Out = io.Discard
	}
	if a.Err == nil {
		a.Err = io.Discard
	}
	if a.Getenv == nil {
		a.Getenv = os.Getenv
	}
	if a.Now == nil {
		a.Now = time.Now
	}
}

// subcommands are gcptoken's commands, each with the name its constructor
// gives it (TestSubcommandNames keeps the two in step). A command that
// works on the whole tree (completion writes the shells' scripts from
// it) needs every other one.
var subcommands = []struct {
	name      string
	build     func(*App) *cobra.Command
	needsTree bool
}{
	{"print-access-token", newPrintAccessTokenCmd, false},
	{"print-identity-token", newPrintIdentityTokenCmd, false},
	{"info", newInfoCmd, false},
	{"curl", newCurlCmd, false},
	{"verify", newVerifyCmd, false},
	{"proxy", newProxyCmd, false},
	{"explain", newExplainCmd, false},
	{"status", newStatusCmd, false},
	{"cache", newCacheCmd, false},
	{"metadata-server", newMetadataServerCmd, false},
	{"emulator", newEmulatorCmd, false},
	{"create-cred-config", newCreateCredConfigCmd, false},
	{"demo", newDemoCmd, false},
	{"login", newLoginCmd, false},
	{"logout", newLogoutCmd, false},
	{"version", newVersionCmd, false},
	{"kubectl-credential", newKubectlCredentialCmd, false},
	{"configure-kubectl", newConfigureKubectlCmd, false},
	{"docker-credential", newDockerCredentialCmd, false},
	{"configure-docker", newConfigureDockerCmd, false},
	{"git-credential", newGitCredentialCmd, false},
	{"configure-git", newConfigureGitCmd, false},
	{"completion", newCompletionCmd, true},
}

// newRootCmdFor returns the command tree that runs args. When args start
// with a command's name, the tree holds that command alone: building all
// of them, with their flags and help, costs a short command (a cached
// token) a measurable part of its run. Anything else (no command, a flag
// first, help, a completion request, a misspelt name that cobra should
// correct) gets the whole tree.
func newRootCmdFor(app *App, args []string) *cobra.Command {
	if len(args) > 0 {
		for _, sub := range subcommands {
			if sub.name == args[0] && !sub.needsTree {
				return newRoot(app, sub.build(app))
			}
		}
	}
	return newRootCmd(app)
}

// newRootCmd returns the whole command tree.
func newRootCmd(app *App) *cobra.Command {
	cmds := make([]*cobra.Command, len(subcommands))
	for i, sub := range subcommands {
		cmds[i] = sub.build(app)
	}
	return newRoot(app, cmds...)
}

// newRoot returns the root command with cmds under it.
func newRoot(app *App, cmds ...*cobra.Command) *cobra.Command {
	root := &cobra.Command{
		Use:   "gcptoken",
		Short: "Get, use and check Google Cloud bearer tokens",
		Long: `gcptoken gets Google Cloud OAuth access tokens and OIDC ID tokens from
Application Default Credentials, service-account keys, the accounts
signed in to gcloud (gcloud auth login; --account picks one) or the
metadata server, prints or uses them, and explains them.

` + exitCodeHelp,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Running `gcptoken` alone prints help and exits 0, like git.
	}
	root.SetIn(app.In)
	root.SetOut(app.Out)
	root.SetErr(app.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{msg: err.Error()}
	})
	bindLogLevel(root, app) // --log-level, $GCPTOKEN_LOG (loglevel.go)
	// cobra's own completion command costs about 1 ms of start-up
	// (measured) on every run; newCompletionCmd replaces it.
	root.CompletionOptions.DisableDefaultCmd = true
	root.Version = versionLine()
	root.SetVersionTemplate("gcptoken {{.Version}}\n")
	root.AddCommand(cmds...)
	for _, c := range root.Commands() {
		c.SetFlagErrorFunc(root.FlagErrorFunc())
		c.Args = wrapArgs(c.Args)
	}
	return root
}

// wrapArgs turns cobra's positional-argument errors into usage errors.
func wrapArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	if check == nil {
		return nil
	}
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &usageError{msg: fmt.Sprintf("%s: %v", cmd.Name(), err)}
		}
		return nil
	}
}
