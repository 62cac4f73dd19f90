package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/internal/fileutil"

	"github.com/gcptoken/gcptoken/credhelper/kubeexec"
)

func newKubectlCredentialCmd(app *App) *cobra.Command {
	o := &helperOptions{}
	cmd := &cobra.Command{
		Use:   "kubectl-credential",
		Short: "Print a Kubernetes ExecCredential (kubectl exec credential plugin)",
		Long: `Print an access token as a Kubernetes ExecCredential, for kubectl and every
client-go program: a replacement for gke-gcloud-auth-plugin that needs no
gcloud and takes any credential source.

The ExecCredential's apiVersion (client.authentication.k8s.io/v1 or v1beta1)
is the one kubectl asks for in KUBERNETES_EXEC_INFO; v1beta1 when it is unset.
Tokens come from the on-disk cache, keyed by identity and scopes, so switching
accounts never serves another account's token.

Set it up with 'gcptoken configure-kubectl'.`,
		Example: `  # kubeconfig users entry:
  #   exec:
  #     apiVersion: client.authentication.k8s.io/v1
  #     command: gcptoken
  #     args: [kubectl-credential]
  #     interactiveMode: Never
  gcptoken kubectl-credential --impersonate-service-account deployer@my-project.iam.gserviceaccount.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Write checks the request before it spends a token on it.
			return kubeexec.Write(cmd.Context(), app.Out, o.provider(app), app.Getenv(kubeexec.EnvExecInfo))
		},
	}
	o.bind(cmd.Flags())
	return cmd
}

type configureKubectlOptions struct {
	helper     helperArgs
	kubeconfig string
	user       string
	context    string
	write      bool
	apiVersion string
}

func newConfigureKubectlCmd(app *App) *cobra.Command {
	o := &configureKubectlOptions{}
	cmd := &cobra.Command{
		Use:   "configure-kubectl",
		Short: "Print or write the kubeconfig user that runs gcptoken kubectl-credential",
		Long: `Print the kubeconfig "users" entry that makes kubectl get its token from
'gcptoken kubectl-credential', or, with --write, merge it into the kubeconfig
($KUBECONFIG's first file, else ~/.kube/config). --context also points that
context at the user.

Writing has kubectl itself edit a copy of the file (kubectl config
set-credentials, so the file stays in kubectl's format and every other entry
is kept), then saves the previous file as <file>.bak and moves the copy into
place atomically (mode 0600). It needs kubectl on PATH.`,
		Example: `  gcptoken configure-kubectl
  gcptoken configure-kubectl --write --context gke_my-project_europe-west1_prod
  gcptoken configure-kubectl --write --impersonate-service-account deployer@my-project.iam.gserviceaccount.com --user deployer`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return configureKubectlRun(cmd.Context(), app, o)
		},
	}
	o.helper.bind(cmd.Flags())
	cmd.Flags().StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig `FILE` to write (default: first file of $KUBECONFIG, else ~/.kube/config)")
	cmd.Flags().StringVar(&o.user, "user", "gcptoken", "`NAME` of the kubeconfig user entry")
	cmd.Flags().StringVar(&o.context, "context", "", "also set this existing context's user (with --write)")
	cmd.Flags().BoolVar(&o.write, "write", false, "merge the entry into the kubeconfig instead of printing it")
	cmd.Flags().StringVar(&o.apiVersion, "api-version", kubeexec.APIVersionV1, "exec `VERSION`: "+kubeexec.APIVersionV1+" (kubectl 1.22+) or "+kubeexec.APIVersionV1beta1)
	return cmd
}

func configureKubectlRun(ctx context.Context, app *App, o *configureKubectlOptions) error {
	if o.apiVersion != kubeexec.APIVersionV1 && o.apiVersion != kubeexec.APIVersionV1beta1 {
		return usagef("--api-version %q: want %s or %s", o.apiVersion, kubeexec.APIVersionV1, kubeexec.APIVersionV1beta1)
	}
	if strings.TrimSpace(o.user) == "" || strings.ContainsAny(o.user, "\n\x00") {
		return usagef("--user %q: want a name", o.user)
	}
	if o.context != "" && !o.write {
		return usagef("--context needs --write")
	}
	args, err := o.helper.args()
	if err != nil {
		return err
	}
	exe, err := selfPath()
	if err != nil {
		return err
	}
	args = append([]string{"kubectl-credential"}, args...)
	if !o.write {
		_, err := io.WriteString(app.Out, kubeUserYAML(o.user, exe, args, o.apiVersion))
		return err
	}
	kubectl, ok := lookPath("kubectl", app.Getenv("PATH"), app.Getenv("PATHEXT"))
	if !ok {
		return usagef("configure-kubectl --write: kubectl is not on PATH; install it, or print the entry without --write and add it to the kubeconfig yourself")
	}
	path, err := kubeconfigPath(app, o.kubeconfig)
	if err != nil {
		return err
	}
	backup, err := writeKubeconfig(ctx, app, kubectl, path, func(kc kubectlRunner) error {
		if o.context != "" {
			if err := kc("config", "get-contexts", o.context); err != nil {
				if strings.Contains(err.Error(), "not found") {
					return usagef("--context %q: no such context in %s; create it first (kubectl config set-context)", o.context, path)
				}
				return err
			}
		}
		set := []string{"config", "set-credentials", o.user,
			"--exec-command=" + exe, "--exec-api-version=" + o.apiVersion, "--exec-interactive-mode=Never"}
		for _, a := range args {
			// kubectl splits --exec-arg values at commas, CSV-style;
			// quote each so that a comma stays inside its argument.
			set = append(set, "--exec-arg="+`"`+strings.ReplaceAll(a, `"`, `""`)+`"`)
		}
		if err := kc(set...); err != nil {
			return err
		}
		switch {
		case o.context == "":
			return nil
		case !strings.Contains(o.context, "."):
			// Not set-context --user: gcloud's kubectl dispatcher reads a
			// --user flag as the global one and contacts the cluster
			// with that user's credentials.
			return kc("config", "set", "contexts."+o.context+".user", o.user)
		default:
			// config set splits its property path at dots.
			return kc("config", "set-context", o.context, "--user="+o.user)
		}
	})
	if err != nil {
		return fmt.Errorf("configure-kubectl: %w", err)
	}
	fmt.Fprintf(app.Out, "Wrote user %q to %s", o.user, path)
	if o.context != "" {
		fmt.Fprintf(app.Out, " and set context %q to use it", o.context)
	}
	if backup != "" {
		fmt.Fprintf(app.Out, " (previous file: %s)", backup)
	}
	fmt.Fprintln(app.Out)
	return nil
}

// kubectlRunner runs one kubectl command on the kubeconfig being edited.
type kubectlRunner func(args ...string) error

// writeKubeconfig edits path with kubectl: on a 0600 copy in the same
// directory, so that a failing edit leaves the file as it was; then the old
// file is saved as path+".bak" and the copy renamed into place. kubectl, not
// gcptoken, parses and writes the YAML: it is the format's owner, and a YAML
// library would add about a millisecond of initialisation to every gcptoken
// start (measured with GODEBUG=inittrace=1).
func writeKubeconfig(ctx context.Context, app *App, kubectl, path string, edit func(kubectlRunner) error) (backup string, err error) {
	old, existed, err := readConfigFile(path)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create directory for %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*"+fileutil.TempSuffix)
	if err != nil {
		return "", fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			os.Remove(tmpName)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	_, err = tmp.Write(old)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("kubeconfig %s: copy: %w", path, err)
	}
	run := func(args ...string) error {
		// Editing a file takes kubectl well under a second; the bound
		// keeps a misbehaving kubectl wrapper from hanging the command.
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		// The --context names no context, so that wrappers such as gcloud's
		// kubectl dispatcher, which ask the current cluster for its version
		// to pick a kubectl, do not contact it (running its credential
		// plugin) for a file edit; config commands ignore the flag.
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig=" + tmpName, "--context=gcptoken-configure-no-context"}, args...)...)
		cmd.Env = gitEnv(app) // PATH and the home directory, which is all kubectl needs here
		cmd.WaitDelay = time.Second
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			msg := strings.TrimSpace(strings.ReplaceAll(stderr.String(), tmpName, path))
			return fmt.Errorf("kubeconfig %s: kubectl %s %s: %v: %s", path, args[0], args[1], err, oneLine(msg))
		}
		return nil
	}
	if err := edit(run); err != nil {
		return "", err
	}
	if existed {
		backup = path + ".bak"
		if err := fileutil.WriteAtomic(backup, old, 0o600); err != nil {
			return "", fmt.Errorf("back up %s: %w", path, err)
		}
	}
	data, err := os.ReadFile(tmpName)
	if err != nil {
		return "", err
	}
	// Rewrite through WriteAtomic for its fsync, then drop the copy.
	if err := fileutil.WriteAtomic(path, data, 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	os.Remove(tmpName)
	return backup, nil
}

// kubeUserYAML prints one kubeconfig "users" entry. Strings are written
// JSON-quoted, which YAML reads as double-quoted scalars, so paths and
// arguments need no YAML-specific escaping.
func kubeUserYAML(name, exe string, args []string, apiVersion string) string {
	q := func(s string) string {
		b, _ := json.Marshal(s)
		return string(b)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "users:\n- name: %s\n  user:\n    exec:\n", q(name))
	fmt.Fprintf(&b, "      apiVersion: %s\n      command: %s\n      args:\n", q(apiVersion), q(exe))
	for _, a := range args {
		fmt.Fprintf(&b, "      - %s\n", q(a))
	}
	b.WriteString("      interactiveMode: Never\n      provideClusterInfo: false\n")
	return b.String()
}

func kubeconfigPath(app *App, flag string) (string, error) {
	if flag != "" {
		return filepath.Abs(flag)
	}
	if env := app.Getenv("KUBECONFIG"); env != "" {
		// kubectl writes new entries to the first file of the list.
		for _, p := range filepath.SplitList(env) {
			if p != "" {
				return filepath.Abs(p)
			}
		}
	}
	home, want := userHome(app)
	if home == "" {
		return "", usagef("configure-kubectl: %s is not set; name the file with --kubeconfig", want)
	}
	return filepath.Join(home, ".kube", "config"), nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
