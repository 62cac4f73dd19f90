package cli

import (
	"fmt"
	"io"
	"runtime"
	"strings"
)

// Shell dialects of --format env, chosen with --shell. A flag of its own,
// as docker-machine's and minikube's env commands have, rather than more
// --format values: --format stays the closed list scripts already match,
// and the default can follow the platform.
const (
	shellPOSIX      = "posix"      // bash, zsh, dash, sh, ksh: export NAME='value'
	shellFish       = "fish"       // set -gx NAME 'value'
	shellPowerShell = "powershell" // $env:NAME = 'value'  (| Invoke-Expression)
	shellCmd        = "cmd"        // set "NAME=value"     (for /f "delims=" %i in ('…') do %i)
)

const shellHelp = "with --format env: the `SHELL` to write for: posix (bash, zsh, sh), fish, powershell or cmd " +
	"(default posix; on Windows powershell, unless $SHELL is set as in Git Bash)"

// defaultShell is --shell's default: PowerShell on Windows, where it is the
// default shell, unless SHELL is set, which Git Bash, MSYS2 and Cygwin do
// (PowerShell and cmd do not); POSIX everywhere else. goos and getenv are
// parameters for the tests.
func defaultShell(goos string, getenv func(string) string) string {
	if goos == "windows" && getenv("SHELL") == "" {
		return shellPowerShell
	}
	return shellPOSIX
}

// checkShell validates --shell; "" is the platform's default.
func checkShell(app *App, shell, format string) (string, error) {
	if shell == "" {
		return defaultShell(runtime.GOOS, app.Getenv), nil
	}
	if format != "env" {
		return "", usagef("--shell is only for --format env")
	}
	switch shell {
	case shellPOSIX, shellFish, shellPowerShell, shellCmd:
		return shell, nil
	}
	return "", usagef("--shell %q: want posix, fish, powershell or cmd", shell)
}

// writeEnv writes one assignment per variable in shell's syntax, each line
// ending in a line feed alone: PowerShell's Invoke-Expression and cmd's
// for /f accept it, and a carriage return would end up inside the value in
// Git Bash.
func writeEnv(w io.Writer, shell string, vars [][2]string) error {
	for _, kv := range vars {
		name, value := kv[0], kv[1]
		var line string
		switch shell {
		case shellFish:
			line = "set -gx " + name + " " + quoteForEval(value)
		case shellPowerShell:
			line = "$env:" + name + " = " + quotePowerShell(value)
		case shellCmd:
			q, err := quoteCmd(name, value)
			if err != nil {
				return err
			}
			line = q
		default:
			line = "export " + name + "=" + quoteForEval(value)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// quotePowerShell quotes s as a verbatim (single-quoted) PowerShell string,
// in which nothing is expanded and a quote is written twice. PowerShell
// also ends such strings at the typographic single quotes U+2018, U+2019,
// U+201A and U+201B, so those are doubled too. Tokens hold none of these
// (they are checked before printing); the quoting is a second line of
// defence.
func quotePowerShell(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'', '\u2018', '\u2019', '\u201a', '\u201b':
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

// quoteCmd writes set "NAME=value" for cmd.exe. The quotes keep &, |, <, >
// and ^ literal, but nothing in cmd keeps %VAR% (or !VAR! under delayed
// expansion) from expanding, and a quote or a line break would end the
// command, so values holding any of those are refused rather than
// quoted. Tokens never hold them (they are checked before printing).
func quoteCmd(name, value string) (string, error) {
	if i := strings.IndexFunc(value, func(r rune) bool {
		return r < 0x20 || r == 0x7f || strings.ContainsRune(`"%!^`, r)
	}); i >= 0 {
		return "", fmt.Errorf("cannot write %s for cmd: the value holds %q, which cmd would expand or end the command at", name, value[i])
	}
	return `set "` + name + "=" + value + `"`, nil
}
