package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

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
	bindTimeout(cmd, app, 0)
	return cmd
}

type configureKubectlOptions struct {
	helper     helperArgs
	kubeconfig string
	user       string
	context    string
	write      bool
	apiVersion string
	// editor edits the kubeconfig. Optional; default the file, with
	// kubectl (tests set a kubeexec.FakeKubeconfig).
	editor kubeexec.Kubeconfig
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
	user, err := o.kubeUser()
	if err != nil {
		return err
	}
	if !o.write {
		_, err := io.WriteString(app.Out, user.YAML())
		return err
	}
	path := o.kubeconfig
	if path != "" {
		path, err = filepath.Abs(path)
	} else {
		path, err = kubeexec.KubeconfigPath(app.Getenv)
	}
	if err != nil {
		return usagef("configure-kubectl: %v; name the file with --kubeconfig", err)
	}
	editor := o.editor
	if editor == nil {
		editor = &kubeexec.KubectlConfig{Path: path, Getenv: app.Getenv}
	}
	backup, err := editor.SetUser(ctx, user, o.context)
	var noContext *kubeexec.NoContextError
	switch {
	case errors.Is(err, kubeexec.ErrNoKubectl):
		return usagef("configure-kubectl --write: kubectl is not on PATH; install it, or print the entry without --write and add it to the kubeconfig yourself")
	case errors.As(err, &noContext):
		return usagef("--context %q: no such context in %s; create it first (kubectl config set-context)", o.context, path)
	case err != nil:
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

// kubeUser checks the flags and returns the user entry they describe.
func (o *configureKubectlOptions) kubeUser() (*kubeexec.User, error) {
	if o.apiVersion != kubeexec.APIVersionV1 && o.apiVersion != kubeexec.APIVersionV1beta1 {
		return nil, usagef("--api-version %q: want %s or %s", o.apiVersion, kubeexec.APIVersionV1, kubeexec.APIVersionV1beta1)
	}
	if strings.TrimSpace(o.user) == "" || strings.ContainsAny(o.user, "\n\x00") {
		return nil, usagef("--user %q: want a name", o.user)
	}
	if o.context != "" && !o.write {
		return nil, usagef("--context needs --write")
	}
	args, err := o.helper.args()
	if err != nil {
		return nil, err
	}
	exe, err := selfPath()
	if err != nil {
		return nil, err
	}
	return &kubeexec.User{Name: o.user, Command: exe, Args: append([]string{"kubectl-credential"}, args...), APIVersion: o.apiVersion}, nil
}
