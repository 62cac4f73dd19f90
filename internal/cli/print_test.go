package cli

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestQuoteForEval evaluates quoted hostile strings in bash and POSIX sh
// and checks that each comes back unchanged and runs nothing. zsh and fish
// are not installed by `make deps`; quoteForEval's comment says why its
// output suits them too (fish reads \\ and \' inside single quotes).
func TestQuoteForEval(t *testing.T) {
	t.Parallel()
	shells := []string{requireTool(t, "bash", "apt-get install bash")}
	if sh, err := exec.LookPath("sh"); err == nil {
		shells = append(shells, sh)
	}
	values := []string{
		"", "ya29.plain", "$(id)", "`id`", "${HOME}", "a'b", "'", "''", "a\\b", "\\", "\\'", "'\\",
		"a\nb", "a\tb", "a b", "!event", "*", "a;b|c&d>e<f", "\x1b]0;t\x07", "é ü \u202e",
	}
	for _, sh := range shells {
		for _, v := range values {
			out, err := exec.Command(sh, "-c", `eval "X=$1"; printf '%s' "$X"`, "sh", quoteForEval(v)).Output()
			if err != nil {
				t.Errorf("%s: eval X=%s: %v", sh, quoteForEval(v), err)
				continue
			}
			if string(out) != v {
				t.Errorf("%s: eval X=%s gave %q; want %q", sh, quoteForEval(v), out, v)
			}
		}
	}
}

// TestPrintEnvShells: --format env --shell writes each dialect's
// assignments, one per line ending in a line feed, and --shell is refused
// with other formats and for unknown shells.
func TestPrintEnvShells(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	key := saKeyFile(t, f)
	tests := []struct {
		shell string
		line  *regexp.Regexp
	}{
		{"posix", regexp.MustCompile(`^export (GOOGLE_OAUTH_ACCESS_TOKEN|CLOUDSDK_AUTH_ACCESS_TOKEN)='(ya29\.[^']+)'$`)},
		{"fish", regexp.MustCompile(`^set -gx (GOOGLE_OAUTH_ACCESS_TOKEN|CLOUDSDK_AUTH_ACCESS_TOKEN) '(ya29\.[^']+)'$`)},
		{"powershell", regexp.MustCompile(`^\$env:(GOOGLE_OAUTH_ACCESS_TOKEN|CLOUDSDK_AUTH_ACCESS_TOKEN) = '(ya29\.[^']+)'$`)},
		{"cmd", regexp.MustCompile(`^set "(GOOGLE_OAUTH_ACCESS_TOKEN|CLOUDSDK_AUTH_ACCESS_TOKEN)=(ya29\.[^"]+)"$`)},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			r := run(t, e, "", "print-access-token", "--credentials", key, "--format", "env", "--shell", tt.shell)
			wantCode(t, r, 0)
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			if len(lines) != 2 || strings.Contains(r.stdout, "\r") {
				t.Fatalf("got %q; want two lines ending in \\n", r.stdout)
			}
			for _, l := range lines {
				if !tt.line.MatchString(l) {
					t.Errorf("got line %q; want it to match %s", l, tt.line)
				}
			}
		})
	}
	for _, args := range [][]string{{"--format", "text", "--shell", "posix"}, {"--format", "env", "--shell", "tcsh"}} {
		r := run(t, e, "", append([]string{"print-access-token", "--credentials", key}, args...)...)
		wantCode(t, r, ExitUsage)
	}
}

func TestDefaultShell(t *testing.T) {
	t.Parallel()
	tests := []struct {
		goos, shellVar, want string
	}{
		{"linux", "", "posix"},
		{"darwin", "/bin/zsh", "posix"},
		{"windows", "", "powershell"},
		{"windows", "/usr/bin/bash", "posix"}, // Git Bash
	}
	for _, tt := range tests {
		getenv := func(k string) string {
			if k == "SHELL" {
				return tt.shellVar
			}
			return ""
		}
		if got := defaultShell(tt.goos, getenv); got != tt.want {
			t.Errorf("defaultShell(%s, SHELL=%q) = %q; want %q", tt.goos, tt.shellVar, got, tt.want)
		}
	}
}

// TestQuotePowerShell reads quoted hostile strings back the way PowerShell
// reads a verbatim string (pwsh is not a Debian package, so its grammar is
// modelled here: inside '…' nothing expands, and a doubled quote, including
// the typographic ones PowerShell treats as quotes, is one literal quote)
// and checks that each comes back whole and nothing follows the string.
func TestQuotePowerShell(t *testing.T) {
	t.Parallel()
	isQuote := func(r rune) bool { return strings.ContainsRune("'\u2018\u2019\u201a\u201b", r) }
	values := []string{"", "ya29.plain", "$(Remove-Item x)", "a'b", "'", "a\u2019; calc; \u2018", "`n$env:HOME", "a\nb", "é"}
	for _, v := range values {
		q := []rune(quotePowerShell(v))
		if len(q) < 2 || q[0] != '\'' {
			t.Errorf("quotePowerShell(%q) = %q; want a single-quoted string", v, string(q))
			continue
		}
		var got []rune
		i := 1
		for ; i < len(q); i++ {
			if isQuote(q[i]) {
				if i+1 < len(q) && isQuote(q[i+1]) {
					got = append(got, q[i])
					i++
					continue
				}
				break // the end of the string
			}
			got = append(got, q[i])
		}
		if string(got) != v || i != len(q)-1 {
			t.Errorf("quotePowerShell(%q) = %q reads back as %q with %q after it", v, string(q), string(got), string(q[min(i+1, len(q)):]))
		}
	}
}

// TestQuoteCmd: cmd.exe cannot quote %, !, ^, " or a line break inside set
// "NAME=value", so values holding them are refused, never written.
func TestQuoteCmd(t *testing.T) {
	t.Parallel()
	if got, err := quoteCmd("X", "ya29.a-b_c~d+e/f="); err != nil || got != `set "X=ya29.a-b_c~d+e/f="` {
		t.Errorf(`quoteCmd(X, token) = %q, %v; want set "X=…"`, got, err)
	}
	for _, v := range []string{"%PATH%", "!x!", "a^b", `a"&calc&"`, "a\r\nb", "a\x00"} {
		if got, err := quoteCmd("X", v); err == nil {
			t.Errorf("quoteCmd(X, %q) = %q; want an error", v, got)
		}
	}
}
