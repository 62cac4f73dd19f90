package cli

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/credhelper/dockercred"
	"github.com/gcptoken/gcptoken/credhelper/gitcred"
	"github.com/gcptoken/gcptoken/credhelper/kubeexec"
)

// The configure commands with the credhelper packages' fakes in place of
// the files and tools: what each command asks the library to set up,
// without git, kubectl or a home directory (so these run on every
// platform; the end-to-end tests run the real tools).

// fakeApp is an App whose output the test reads.
func fakeApp(t *testing.T) (*App, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var out, errb bytes.Buffer
	e := newEnv(t)
	app := &App{Out: &out, Err: &errb, Getenv: func(k string) string { return e[k] }}
	app.defaults()
	return app, &out, &errb
}

func TestConfigureGitAsksLibrary(t *testing.T) {
	t.Parallel()
	app, out, _ := fakeApp(t)
	fake := &gitcred.FakeHelperConfig{}
	o := &configureGitOptions{hosts: []string{"*.SourceManager.dev", "git.example.com:8443"}, write: true, config: fake}
	o.helper.scopes = []string{"a", "b"}
	if err := configureGitRun(context.Background(), app, o); err != nil {
		t.Fatal(err)
	}
	exe, _ := selfPath()
	for _, h := range []string{"*.sourcemanager.dev", "git.example.com:8443"} {
		got := fake.Helpers[gitcred.HelperKey(h)]
		if len(got) != 2 || got[0] != "" || !strings.Contains(got[1], " git-credential --scopes=a,b --hosts=git.example.com:8443") ||
			!strings.Contains(got[1], strings.ReplaceAll(exe, `\`, "/")) {
			t.Errorf("helpers of %s = %q; want the reset and gcptoken with --scopes and the non-Google host", h, got)
		}
	}
	if want := "git now asks gcptoken for https://*.sourcemanager.dev, https://git.example.com:8443 credentials (git config --global)\n"; out.String() != want {
		t.Errorf("printed %q; want %q", out.String(), want)
	}

	fake.Err = errors.New("git config --global --add: exit status 255: error: could not lock config file")
	err := configureGitRun(context.Background(), app, &configureGitOptions{write: true, config: fake})
	if err == nil || !strings.HasPrefix(err.Error(), "configure-git: git config --global --add") {
		t.Errorf("configure-git with a failing git = %v; want the error, prefixed", err)
	}
}

func TestConfigureKubectlAsksLibrary(t *testing.T) {
	t.Parallel()
	app, out, _ := fakeApp(t)
	fake := &kubeexec.FakeKubeconfig{Contexts: map[string]string{"prod": "admin"}}
	o := &configureKubectlOptions{kubeconfig: "kube.yaml", user: "deployer", context: "prod", write: true,
		apiVersion: kubeexec.APIVersionV1beta1, editor: fake}
	o.helper.impersonate = "sa@p.iam.gserviceaccount.com"
	if err := configureKubectlRun(context.Background(), app, o); err != nil {
		t.Fatal(err)
	}
	exe, _ := selfPath()
	got := fake.Users["deployer"]
	if got.Command != exe || got.APIVersion != kubeexec.APIVersionV1beta1 ||
		!slices.Equal(got.Args, []string{"kubectl-credential", "--impersonate-service-account=sa@p.iam.gserviceaccount.com"}) {
		t.Errorf("user = %+v; want gcptoken kubectl-credential impersonating", got)
	}
	if fake.Contexts["prod"] != "deployer" {
		t.Errorf("context prod uses %q; want deployer", fake.Contexts["prod"])
	}
	if !strings.HasPrefix(out.String(), `Wrote user "deployer" to `) || !strings.HasSuffix(out.String(), "kube.yaml and set context \"prod\" to use it\n") {
		t.Errorf("printed %q", out.String())
	}

	o.context = "staging"
	err := configureKubectlRun(context.Background(), app, o)
	if exitCode(err) != ExitUsage || !strings.Contains(err.Error(), `--context "staging": no such context in `) {
		t.Errorf("unknown context = %v (exit %d); want a usage error naming --context", err, exitCode(err))
	}
	o.context, fake.Err = "", kubeexec.ErrNoKubectl
	if err := configureKubectlRun(context.Background(), app, o); exitCode(err) != ExitUsage || !strings.Contains(err.Error(), "kubectl is not on PATH; install it") {
		t.Errorf("no kubectl = %v; want a usage error saying what to do", err)
	}
}

func TestConfigureDockerAsksLibrary(t *testing.T) {
	t.Parallel()
	app, out, errb := fakeApp(t)
	fake := &dockercred.FakeHelperConfig{CredHelpers: map[string]string{"gcr.io": "gcloud"}}
	o := &configureDockerOptions{config: fake}
	if err := configureDockerRun(app, o); err != nil {
		t.Fatal(err)
	}
	for _, r := range dockercred.DefaultRegistries {
		if fake.CredHelpers[r] != dockercred.HelperName {
			t.Errorf("credHelpers[%s] = %q; want %s", r, fake.CredHelpers[r], dockercred.HelperName)
		}
	}
	if !strings.HasPrefix(out.String(), "Set credHelpers for asia.gcr.io, eu.gcr.io, gcr.io, ") {
		t.Errorf("printed %q", out.String())
	}
	if !strings.Contains(errb.String(), "gcptoken: warning: "+dockercred.HelperProgram) {
		t.Errorf("stderr %q; want the PATH warning", errb.String())
	}

	out.Reset()
	o = &configureDockerOptions{config: fake, registries: []string{"Europe-West1-Docker.pkg.dev"}, dryRun: true}
	if err := configureDockerRun(app, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"europe-west1-docker.pkg.dev": "gcptoken"`) || fake.Routes("europe-west1-docker.pkg.dev") {
		t.Errorf("--dry-run printed %q and changed the configuration: %t", out.String(), fake.Routes("europe-west1-docker.pkg.dev"))
	}
}
