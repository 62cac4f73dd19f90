package cli

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/fakegoogle"
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

// TestCompletionOfFlagValues: completion offers the values of flags, as
// the completion command's help says: formats, shells, scopes (after those
// typed), the audiences of cached ID tokens, credential files.
func TestCompletionOfFlagValues(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := helperEnv(t, f)
	e[envSampleURL] = f.SampleServiceURL()
	wantCode(t, run(t, e, "", "print-identity-token", "--audience", "https://cached.example"), 0)
	tests := []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"print-access-token", "--format", ""}, []string{"text", "json", "header", "env", ":4"}, nil},
		{[]string{"info", "--format", ""}, []string{"text", "json"}, []string{"header"}},
		{[]string{"print-access-token", "--shell", ""}, []string{"posix", "fish", "powershell", "cmd"}, nil},
		{[]string{"print-access-token", "--scopes", "cloud-platform,user"}, []string{"cloud-platform,userinfo.email"}, []string{"\ncloud-platform\n"}},
		{[]string{"print-identity-token", "--audience", ""}, []string{"https://cached.example", f.SampleServiceURL()}, nil},
		{[]string{"curl", "--audience", ""}, []string{"https://cached.example"}, nil},
		{[]string{"print-access-token", "--credentials", ""}, []string{"json", ":8"}, nil}, // ShellCompDirectiveFilterFileExt
		{[]string{"--log-level", ""}, []string{"debug", "warn"}, nil},
		{[]string{"cache", "clear", ""}, []string{fakegoogle.DefaultServiceAccount}, nil},
	}
	for _, tt := range tests {
		r := run(t, e, "", append([]string{"__complete"}, tt.args...)...)
		wantCode(t, r, 0)
		for _, w := range tt.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("__complete %q: got\n%s\nwant %q among them", tt.args, r.stdout, w)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(r.stdout, n) {
				t.Errorf("__complete %q: got\n%s\nwant no %q", tt.args, r.stdout, n)
			}
		}
	}
}
