package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/credhelper/dockercred"
)

// dockerHelperName is the executable name docker looks for when a registry
// maps to "gcptoken" in credHelpers: docker-credential-<name>.
const (
	dockerHelperSuffix = "gcptoken"
	dockerHelperName   = "docker-credential-" + dockerHelperSuffix
)

// defaultDockerRegistries are the registries configure-docker sets up
// without --registries: the ones `gcloud auth configure-docker` sets up.
// Artifact Registry hosts are per location; name them with --registries.
var defaultDockerRegistries = []string{"gcr.io", "us.gcr.io", "eu.gcr.io", "asia.gcr.io", "staging-k8s.gcr.io", "marketplace.gcr.io"}

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
	if name != dockerHelperName {
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

// dockerConfigPath is docker's client configuration file:
// $DOCKER_CONFIG/config.json, else .docker\config.json in the home
// directory, which on Windows docker takes from %USERPROFILE% alone.
func dockerConfigPath(app *App) (string, error) {
	if dir := app.Getenv("DOCKER_CONFIG"); dir != "" {
		return filepath.Join(dir, "config.json"), nil
	}
	homeVar := "HOME"
	if runtime.GOOS == "windows" {
		homeVar = "USERPROFILE"
	}
	home := app.Getenv(homeVar)
	if home == "" {
		return "", fmt.Errorf("neither DOCKER_CONFIG nor %s is set", homeVar)
	}
	return filepath.Join(home, ".docker", "config.json"), nil
}

// dockerConfigRoutes reports whether the docker configuration maps host to
// this helper in credHelpers: the user chose to send that registry a Google
// token. It is read only for hosts outside the built-in patterns.
func dockerConfigRoutes(app *App, host string) bool {
	path, err := dockerConfigPath(app)
	if err != nil {
		return false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var cfg struct {
		CredHelpers map[string]string `json:"credHelpers"`
	}
	if json.Unmarshal(data, &cfg) != nil {
		return false
	}
	for registry, helper := range cfg.CredHelpers {
		if helper != dockerHelperSuffix {
			continue
		}
		if h, err := dockercred.RegistryHost(registry); err == nil && h == host {
			return true
		}
	}
	return false
}

type configureDockerOptions struct {
	registries []string
	dryRun     bool
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
	registries := defaultDockerRegistries
	if len(o.registries) > 0 {
		var err error
		if registries, err = checkHosts("--registries", o.registries, false); err != nil {
			return err
		}
	}
	path, err := dockerConfigPath(app)
	if err != nil {
		return usagef("configure-docker: %v", err)
	}
	old, existed, err := readConfigFile(path)
	if err != nil {
		return fmt.Errorf("configure-docker: %w", err)
	}
	data, changed, err := mergeDockerConfig(old, registries)
	if err != nil {
		return fmt.Errorf("configure-docker: %s: %w", path, err)
	}
	if o.dryRun {
		_, err := app.Out.Write(data)
		return err
	}
	if len(changed) == 0 {
		fmt.Fprintf(app.Out, "%s already maps %s to gcptoken\n", path, strings.Join(registries, ", "))
	} else {
		backup, err := writeConfigFile(path, old, data, existed)
		if err != nil {
			return fmt.Errorf("configure-docker: %w", err)
		}
		fmt.Fprintf(app.Out, "Set credHelpers for %s to gcptoken in %s", strings.Join(changed, ", "), path)
		if backup != "" {
			fmt.Fprintf(app.Out, " (previous file: %s)", backup)
		}
		fmt.Fprintln(app.Out)
	}
	if _, ok := lookPath(dockerHelperName, app.Getenv("PATH"), app.Getenv("PATHEXT")); !ok {
		if runtime.GOOS == "windows" {
			// Symbolic links need administrator rights or developer mode
			// there; a copy (or a hard link) works as well.
			fmt.Fprintf(app.Err, "gcptoken: warning: %s.exe is not on PATH, so docker cannot run it; copy it: Copy-Item '%s' DIR\\%s.exe (DIR on PATH)\n",
				dockerHelperName, strings.ReplaceAll(exeOrName(), "'", "''"), dockerHelperName)
		} else {
			fmt.Fprintf(app.Err, "gcptoken: warning: %s is not on PATH, so docker cannot run it; link it: ln -s %s DIR/%s (DIR on PATH)\n",
				dockerHelperName, shellWord(exeOrName()), dockerHelperName)
		}
	}
	return nil
}

// mergeDockerConfig maps registries to the gcptoken helper in the docker
// config old (which may be empty), keeping every other key as it was. It
// returns the registries whose mapping changed.
func mergeDockerConfig(old []byte, registries []string) (data []byte, changed []string, err error) {
	doc := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(old)) > 0 {
		if err := json.Unmarshal(old, &doc); err != nil {
			return nil, nil, fmt.Errorf("not a docker config.json (%v); fix or move it", err)
		}
	}
	helpers := map[string]string{}
	if raw, ok := doc["credHelpers"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &helpers); err != nil {
			return nil, nil, fmt.Errorf(`"credHelpers" is not an object of strings (%v); fix the file`, err)
		}
	}
	for _, r := range registries {
		if helpers[r] != dockerHelperSuffix {
			helpers[r] = dockerHelperSuffix
			changed = append(changed, r)
		}
	}
	sort.Strings(changed)
	raw, err := json.Marshal(helpers)
	if err != nil {
		return nil, nil, err
	}
	doc["credHelpers"] = raw
	// docker writes config.json tab-indented; so does this.
	data, err = json.MarshalIndent(doc, "", "\t")
	if err != nil {
		return nil, nil, err
	}
	return append(data, '\n'), changed, nil
}

// lookPath finds an executable name in the directories of path (a PATH
// value), so tests can pass their own PATH. On Windows the name takes each
// extension of pathext (a PATHEXT value; default .com, .exe, .bat, .cmd),
// as os/exec, which docker runs helpers with, does.
func lookPath(name, path, pathext string) (string, bool) {
	names := []string{name}
	if runtime.GOOS == "windows" {
		if pathext == "" {
			pathext = ".com;.exe;.bat;.cmd"
		}
		names = nil
		for _, ext := range strings.Split(strings.ToLower(pathext), ";") {
			if strings.HasPrefix(ext, ".") {
				names = append(names, name+ext)
			}
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		for _, n := range names {
			p := filepath.Join(dir, n)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && (runtime.GOOS == "windows" || fi.Mode()&0o111 != 0) {
				return p, true
			}
		}
	}
	return "", false
}

// exeOrName is the running executable's path, for advice messages.
func exeOrName() string {
	if exe, err := selfPath(); err == nil {
		return exe
	}
	return "gcptoken"
}
