package cli

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/credhelper/dockercred"
)

// mainArgs turns the process's argv into gcptoken's arguments: run as
// docker-credential-gcptoken (a symlink or copy), it is the docker helper.
func mainArgs(argv []string) []string {
	if len(argv) == 0 {
		return nil
	}
	name := filepath.Base(argv[0])
	if runtime.GOOS == "windows" {
		name = strings.ToLower(name) // Windows names are case-insensitive
	}
	name = strings.TrimSuffix(name, ".exe")
	if name != dockercred.HelperProgram {
		return argv[1:]
	}
	// docker-credential-helpers' own helpers take --version and -v.
	if len(argv) == 2 && (argv[1] == "--version" || argv[1] == "-v") {
		return []string{"docker-credential", "version"}
	}
	return append([]string{"docker-credential"}, argv[1:]...)
}

// quietError ends a command with code after the command has reported the
// failure itself, in the format its caller expects (docker reads a helper's
// errors from stdout); Run prints nothing more.
type quietError struct {
	code int
	err  error
}

func (e *quietError) Error() string { return e.err.Error() }
func (e *quietError) Unwrap() error { return e.err }

func newDockerCredentialCmd(app *App) *cobra.Command {
	o := &helperOptions{}
	cmd := &cobra.Command{
		Use:   "docker-credential get|store|erase|list|version",
		Short: "Docker credential helper for Container Registry and Artifact Registry",
		Long: `Serve docker's credential-helper protocol: 'get' reads a registry URL on stdin
and prints {"ServerURL","Username":"oauth2accesstoken","Secret":<access token>}.
gcptoken serves gcr.io, *.gcr.io, *-docker.pkg.dev, docker.*.rep.pkg.dev and
every registry that ~/.docker/config.json ($DOCKER_CONFIG) maps to "gcptoken";
for other registries it answers "credentials not found", so docker goes on
without credentials. store succeeds without effect: tokens are minted, never
stored. erase (docker logout) drops the token from gcptoken's token cache.
Errors are printed on stdout, as docker expects.

docker runs helpers as docker-credential-<name>: link gcptoken under that
name (ln -s "$(command -v gcptoken)" ~/bin/docker-credential-gcptoken), then
run 'gcptoken configure-docker'. Credentials come from Application Default
Credentials, GOOGLE_APPLICATION_CREDENTIALS and
CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT, as docker passes no flags.`,
		Example: `  echo us-docker.pkg.dev | gcptoken docker-credential get
  echo us-docker.pkg.dev | docker-credential-gcptoken get`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return dockerCredentialRun(cmd, app, o, args[0])
		},
	}
	o.bind(cmd.Flags())
	bindTimeout(cmd, app, 0)
	return cmd
}

func dockerCredentialRun(cmd *cobra.Command, app *App, o *helperOptions, action string) error {
	h := &dockercred.Helper{
		Provider: o.provider(app),
		Erase:    func(ctx context.Context) error { return o.erase(app)(ctx, "") },
		Allow:    func(host string) bool { return dockerConfigRoutes(app, host) },
		Version:  version(),
	}
	// Buffer the answer: on failure docker must see the message alone.
	var out bytes.Buffer
	err := h.Serve(cmd.Context(), action, app.In, &out)
	if err == nil {
		_, err = app.Out.Write(out.Bytes())
		return err
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	fmt.Fprintln(app.Out, msg)
	if !dockercred.IsNotFound(err) {
		// Also for a person running the helper by hand; docker keeps a
		// helper's stderr to itself.
		fmt.Fprintf(app.Err, "gcptoken: docker-credential %s: %s\n", action, msg)
	}
	return &quietError{code: ExitError, err: err}
}

// dockerConfigRoutes reports whether docker's configuration maps host to
// this helper: the user chose to send that registry a Google token. It is
// read only for hosts outside the built-in patterns.
func dockerConfigRoutes(app *App, host string) bool {
	path, err := dockercred.ConfigPath(app.Getenv)
	if err != nil {
		return false
	}
	return (&dockercred.ConfigFile{Path: path}).Routes(host)
}

type configureDockerOptions struct {
	registries []string
	dryRun     bool
	// config is docker's configuration. Optional; default its file
	// (tests set a dockercred.FakeHelperConfig).
	config dockercred.HelperConfig
}

func newConfigureDockerCmd(app *App) *cobra.Command {
	o := &configureDockerOptions{}
	cmd := &cobra.Command{
		Use:   "configure-docker",
		Short: "Make docker use gcptoken for Google's container registries",
		Long: `Map registries to the gcptoken helper in the "credHelpers" of docker's
config.json ($DOCKER_CONFIG/config.json, else ~/.docker/config.json). Every
other entry is kept; the previous file is saved as config.json.bak and the
file is replaced atomically with mode 0600.

Without --registries it sets up the Container Registry hosts gcloud sets up
(gcr.io, us.gcr.io, eu.gcr.io, asia.gcr.io, staging-k8s.gcr.io,
marketplace.gcr.io). Name Artifact Registry hosts, e.g.
--registries europe-west1-docker.pkg.dev: docker runs a registry's helper
on every build, so a short list keeps builds fast.

docker runs the helper as docker-credential-gcptoken, which must be on PATH.`,
		Example: `  gcptoken configure-docker --registries us-docker.pkg.dev,europe-west1-docker.pkg.dev
  ln -s "$(command -v gcptoken)" ~/bin/docker-credential-gcptoken`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return configureDockerRun(app, o)
		},
	}
	cmd.Flags().StringSliceVar(&o.registries, "registries", nil, "registry `HOSTS`, comma-separated (default: the gcr.io hosts)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "print the resulting config.json instead of writing it")
	return cmd
}

func configureDockerRun(app *App, o *configureDockerOptions) error {
	registries := dockercred.DefaultRegistries
	if len(o.registries) > 0 {
		var err error
		if registries, err = checkHosts("--registries", o.registries, false); err != nil {
			return err
		}
	}
	config := o.config
	if config == nil {
		path, err := dockercred.ConfigPath(app.Getenv)
		if err != nil {
			return usagef("configure-docker: %v", err)
		}
		config = &dockercred.ConfigFile{Path: path}
	}
	ch, err := config.UseHelper(registries, o.dryRun)
	if err != nil {
		return fmt.Errorf("configure-docker: %w", err)
	}
	if o.dryRun {
		_, err := app.Out.Write(ch.Content)
		return err
	}
	if len(ch.Changed) == 0 {
		fmt.Fprintf(app.Out, "%s already maps %s to gcptoken\n", ch.Path, strings.Join(registries, ", "))
	} else {
		fmt.Fprintf(app.Out, "Set credHelpers for %s to gcptoken in %s", strings.Join(ch.Changed, ", "), ch.Path)
		if ch.Backup != "" {
			fmt.Fprintf(app.Out, " (previous file: %s)", ch.Backup)
		}
		fmt.Fprintln(app.Out)
	}
	if err := dockercred.CheckInstalled(app.Getenv("PATH"), app.Getenv("PATHEXT"), exeOrName()); err != nil {
		fmt.Fprintf(app.Err, "gcptoken: warning: %v\n", err)
	}
	return nil
}

// exeOrName is the running executable's path, for advice messages.
func exeOrName() string {
	if exe, err := selfPath(); err == nil {
		return exe
	}
	return "gcptoken"
}
