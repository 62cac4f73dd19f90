package kubeexec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken/credhelper/internal/toolconfig"
	"github.com/gcptoken/gcptoken/internal/fileutil"
	"github.com/gcptoken/gcptoken/internal/safetext"
)

// Setting kubectl up to run a plugin: the kubeconfig user entry and its
// editing live here beside the protocol; the gcptoken CLI decides what to
// set up and asks a Kubeconfig to do it.

// User is a kubeconfig "users" entry whose credentials come from an exec
// credential plugin.
type User struct {
	// Name is the entry's name. Required.
	Name string
	// Command is the plugin, best an absolute path (kubectl runs it from
	// any directory). Required.
	Command string
	// Args are the plugin's arguments. Optional.
	Args []string
	// APIVersion is the ExecCredential version: APIVersionV1 (kubectl
	// 1.22+) or APIVersionV1beta1. Required.
	APIVersion string
}

func (u *User) validate() error {
	switch {
	case strings.TrimSpace(u.Name) == "" || strings.ContainsAny(u.Name, "\n\x00"):
		return fmt.Errorf("kubeconfig user name %q: want a name", u.Name)
	case u.Command == "":
		return errors.New("kubeconfig user: the plugin command is required")
	case u.APIVersion != APIVersionV1 && u.APIVersion != APIVersionV1beta1:
		return fmt.Errorf("kubeconfig user: exec API version %q: want %s or %s", u.APIVersion, APIVersionV1, APIVersionV1beta1)
	}
	return nil
}

// YAML is the entry as a kubeconfig "users" list of one. Strings are
// written JSON-quoted, which YAML reads as double-quoted scalars, so paths
// and arguments need no YAML-specific escaping.
func (u *User) YAML() string {
	q := func(s string) string {
		b, _ := json.Marshal(s)
		return string(b)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "users:\n- name: %s\n  user:\n    exec:\n", q(u.Name))
	fmt.Fprintf(&b, "      apiVersion: %s\n      command: %s\n      args:\n", q(u.APIVersion), q(u.Command))
	for _, a := range u.Args {
		fmt.Fprintf(&b, "      - %s\n", q(a))
	}
	b.WriteString("      interactiveMode: Never\n      provideClusterInfo: false\n")
	return b.String()
}

// Kubeconfig is a kubeconfig's users and contexts. KubectlConfig edits a
// file with kubectl; FakeKubeconfig keeps them in memory, for tests of code
// that configures kubectl.
type Kubeconfig interface {
	// SetUser adds user, replacing an entry of the same name, and, when
	// context is not "", makes that existing context use it (a
	// *NoContextError when there is no such context). It returns where
	// the previous file was saved, "" if there was none.
	SetUser(ctx context.Context, user *User, context string) (backup string, err error)
}

// NoContextError is SetUser's error for a context the kubeconfig lacks.
type NoContextError struct {
	Context string
	Path    string
}

func (e *NoContextError) Error() string {
	return fmt.Sprintf("no context %q in %s", e.Context, e.Path)
}

// ErrNoKubectl is KubectlConfig's error when it finds no kubectl.
var ErrNoKubectl = errors.New("kubectl is not on PATH")

// KubeconfigPath is the file kubectl writes new entries to: the first file
// of $KUBECONFIG, else .kube/config in the home directory (on Windows
// %USERPROFILE% when HOME is unset, as client-go does).
func KubeconfigPath(getenv func(string) string) (string, error) {
	if env := getenv("KUBECONFIG"); env != "" {
		for _, p := range filepath.SplitList(env) {
			if p != "" {
				return filepath.Abs(p)
			}
		}
	}
	home, want := toolconfig.Home(getenv)
	if home == "" {
		return "", fmt.Errorf("%s is not set", want)
	}
	return filepath.Join(home, ".kube", "config"), nil
}

// KubectlConfig is the Kubeconfig of one file, edited by kubectl (kubectl
// config set-credentials and friends), not by gcptoken: kubectl owns the
// format, and a YAML library would add about a millisecond of
// initialisation to every start of a program that links this package
// (measured with GODEBUG=inittrace=1).
type KubectlConfig struct {
	// Path is the kubeconfig. Required; KubeconfigPath is kubectl's.
	Path string
	// Kubectl is the kubectl program. Optional; default kubectl, found on
	// Getenv("PATH") (with PATHEXT on Windows); ErrNoKubectl if it is not
	// there.
	Kubectl string
	// Getenv reads the environment kubectl runs in (PATH and the home
	// directory). Optional; default os.Getenv.
	Getenv func(string) string
}

// SetUser has kubectl edit a 0600 copy of the file in the same directory,
// so that a failing edit leaves the file as it was; then the old file is
// saved as Path+".bak" and the copy moved into place atomically.
func (k *KubectlConfig) SetUser(ctx context.Context, u *User, context string) (string, error) {
	if err := u.validate(); err != nil {
		return "", err
	}
	getenv := k.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	kubectl := k.Kubectl
	if kubectl == "" {
		var ok bool
		if kubectl, ok = toolconfig.LookPath("kubectl", getenv("PATH"), getenv("PATHEXT")); !ok {
			return "", ErrNoKubectl
		}
	}
	e := &kubeconfigEdit{path: k.Path, kubectl: kubectl, env: toolconfig.Env(getenv)}
	return e.run(ctx, func(kc kubectlRunner) error { return setUser(kc, k.Path, u, context) })
}

// kubectlRunner runs one kubectl command on the kubeconfig being edited.
type kubectlRunner func(args ...string) error

// setUser is SetUser's edit, in kubectl commands.
func setUser(kc kubectlRunner, path string, u *User, context string) error {
	if context != "" {
		if err := kc("config", "get-contexts", context); err != nil {
			if strings.Contains(err.Error(), "not found") {
				return &NoContextError{Context: context, Path: path}
			}
			return err
		}
	}
	set := []string{"config", "set-credentials", u.Name,
		"--exec-command=" + u.Command, "--exec-api-version=" + u.APIVersion, "--exec-interactive-mode=Never"}
	for _, a := range u.Args {
		// kubectl splits --exec-arg values at commas, CSV-style; quote
		// each so that a comma stays inside its argument.
		set = append(set, "--exec-arg="+`"`+strings.ReplaceAll(a, `"`, `""`)+`"`)
	}
	if err := kc(set...); err != nil {
		return err
	}
	switch {
	case context == "":
		return nil
	case !strings.Contains(context, "."):
		// Not set-context --user: gcloud's kubectl dispatcher reads a
		// --user flag as the global one and contacts the cluster with
		// that user's credentials.
		return kc("config", "set", "contexts."+context+".user", u.Name)
	default:
		// config set splits its property path at dots.
		return kc("config", "set-context", context, "--user="+u.Name)
	}
}

// kubeconfigEdit is one edit of a kubeconfig file through a copy.
type kubeconfigEdit struct {
	path    string
	kubectl string
	env     []string
	tmp     string // the copy kubectl edits
}

// run copies the file, lets edit change the copy with kubectl, and puts
// the copy in place with a backup of the file.
func (e *kubeconfigEdit) run(ctx context.Context, edit func(kubectlRunner) error) (backup string, err error) {
	old, existed, err := toolconfig.ReadFile(e.path)
	if err != nil {
		return "", err
	}
	if err := e.copy(old); err != nil {
		return "", err
	}
	defer os.Remove(e.tmp)
	if err := edit(func(args ...string) error { return e.kubectlOnCopy(ctx, args) }); err != nil {
		return "", err
	}
	if existed {
		if backup, err = toolconfig.Backup(e.path, old); err != nil {
			return "", err
		}
	}
	data, err := os.ReadFile(e.tmp)
	if err != nil {
		return "", err
	}
	// Rewritten through WriteAtomic for its fsync (and, on Windows, its
	// private DACL); the copy is then dropped.
	if err := fileutil.WriteAtomic(e.path, data, 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", e.path, err)
	}
	return backup, nil
}

// copy writes old into a new 0600 file beside the kubeconfig, in a
// directory created 0700 if missing.
func (e *kubeconfigEdit) copy(old []byte) error {
	dir := filepath.Dir(e.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory for %s: %w", e.path, err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(e.path)+".*"+fileutil.TempSuffix)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", e.path, err)
	}
	e.tmp = tmp.Name()
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("kubeconfig %s: %w", e.path, err)
	}
	_, err = tmp.Write(old)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("kubeconfig %s: copy: %w", e.path, err)
	}
	return nil
}

// kubectlOnCopy runs kubectl with args on the copy. Its errors name the
// file, never the copy.
func (e *kubeconfigEdit) kubectlOnCopy(ctx context.Context, args []string) error {
	// Editing a file takes kubectl well under a second; the bound keeps a
	// misbehaving kubectl wrapper from hanging the command.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// The --context names no context, so that wrappers such as gcloud's
	// kubectl dispatcher, which ask the current cluster for its version to
	// pick a kubectl, do not contact it (running its credential plugin)
	// for a file edit; config commands ignore the flag.
	cmd := exec.CommandContext(ctx, e.kubectl, append([]string{"--kubeconfig=" + e.tmp, "--context=gcptoken-configure-no-context"}, args...)...)
	cmd.Env = e.env
	cmd.WaitDelay = time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(strings.ReplaceAll(stderr.String(), e.tmp, e.path))
		return fmt.Errorf("kubeconfig %s: kubectl %s %s: %v: %s", e.path, args[0], args[1], err, safetext.OneLine(msg))
	}
	return nil
}
