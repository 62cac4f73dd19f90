package cli

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		shell string
		want  string
	}{
		{"bash", "__start_gcptoken"},
		{"zsh", "#compdef gcptoken"},
		{"fish", "complete -c gcptoken"},
		{"powershell", "Register-ArgumentCompleter"},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			r := run(t, e, "", "completion", tt.shell)
			wantCode(t, r, 0)
			if !strings.Contains(r.stdout, tt.want) {
				t.Errorf("%s script lacks %q", tt.shell, tt.want)
			}
		})
	}
	r := run(t, e, "", "completion", "tcsh")
	wantCode(t, r, ExitUsage)
	wantOneLineError(t, r, `invalid argument "tcsh"`)

	help := run(t, e, "", "--help")
	if !strings.Contains(help.stdout, "completion ") {
		t.Errorf("--help does not list the completion command:\n%s", help.stdout)
	}
}

// TestCompletionInBash sources the bash script in a real bash and asks it to
// complete, which runs the (test) binary's hidden __complete command.
func TestCompletionInBash(t *testing.T) {
	t.Parallel()
	bash := requireTool(t, "bash", "install bash")
	e := newEnv(t)
	script := run(t, e, "", "completion", "bash").stdout
	// The script completes the command named gcptoken; alias the test
	// binary to it. Without bash-completion installed, _get_comp_words_by_ref
	// is missing, so define the minimum the script needs.
	prog := `
_get_comp_words_by_ref() { cur="${COMP_WORDS[COMP_CWORD]}"; prev="${COMP_WORDS[COMP_CWORD-1]}"; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
gcptoken() { "$SELF" "$@"; }
` + script + `
COMP_WORDS=(gcptoken kubectl-cred); COMP_CWORD=1; COMP_LINE="gcptoken kubectl-cred"; COMP_POINT=${#COMP_LINE}
__start_gcptoken
printf '%s\n' "${COMPREPLY[@]}"
`
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
	cmd.Env = append(processEnv(e), "SELF="+selfExe(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "kubectl-credential") {
		t.Errorf("bash completed %q; want kubectl-credential", out)
	}
}

func TestVersionFlag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	flag := run(t, e, "", "--version")
	wantCode(t, flag, 0)
	cmd := run(t, e, "", "version")
	if flag.stdout != cmd.stdout {
		t.Errorf("--version printed %q; version printed %q; want the same", flag.stdout, cmd.stdout)
	}
	if !strings.HasPrefix(flag.stdout, "gcptoken ") || !strings.Contains(flag.stdout, runtime.Version()) {
		t.Errorf("got %q; want gcptoken <version> (… %s …)", flag.stdout, runtime.Version())
	}
}

// TestPrintAccessTokenEnvEval evaluates --format env in a real shell.
func TestPrintAccessTokenEnvEval(t *testing.T) {
	t.Parallel()
	sh := requireTool(t, "sh", "install a POSIX shell")
	f := startFake(t)
	e := helperEnv(t, f)
	cmd := exec.Command(sh, "-c", `eval "$("$SELF" print-access-token --format env)" && printf '%s %s' "$GOOGLE_OAUTH_ACCESS_TOKEN" "$CLOUDSDK_AUTH_ACCESS_TOKEN"`)
	cmd.Env = append(processEnv(e), "SELF="+selfExe(t))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	a, b, _ := strings.Cut(string(out), " ")
	checker := &tokenChecker{fake: f, scope: defaultScope}
	if a != b {
		t.Errorf("the two variables differ")
	}
	if _, ok := checker.check(basicRequest("x", a)); !ok {
		t.Errorf("eval set GOOGLE_OAUTH_ACCESS_TOKEN to %q; want a live access token", a)
	}
}
