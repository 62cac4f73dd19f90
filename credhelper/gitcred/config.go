package gitcred

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/gcptoken/gcptoken/credhelper/internal/toolconfig"
)

// Setting git up to use a helper: the configuration keys and the helper
// command line, which are git's, live here beside the protocol; the gcptoken
// CLI decides what to set up and asks a HelperConfig to do it.

// DefaultConfigHosts are the remotes a configure command sets up when told
// none: Cloud Source Repositories.
var DefaultConfigHosts = []string{"source.developers.google.com"}

// HelperConfig edits the git configuration that names credential helpers.
// GlobalConfig edits the user's global configuration with git itself;
// FakeHelperConfig keeps it in memory, for tests of code that configures
// git.
type HelperConfig interface {
	// ConfigureHelper makes git ask helper (a credential.helper value,
	// see HelperCommand), and no helper of a less specific configuration,
	// for the credentials of https://HOST, for each of hosts. A host's
	// helper list is reset first, with an empty helper, so that a
	// credential store such as osxkeychain cannot keep serving an expired
	// token.
	ConfigureHelper(ctx context.Context, hosts []string, helper string) error
}

// HelperKey is the configuration key of the credential helpers for
// https://host.
func HelperKey(host string) string { return "credential.https://" + host + ".helper" }

// ConfigCommands are the git command lines, without the leading "git",
// that ConfigureHelper runs: for each host, unset its helpers, add the
// empty helper that drops the helpers configured before, add helper.
func ConfigCommands(hosts []string, helper string) [][]string {
	var cmds [][]string
	for _, h := range hosts {
		key := HelperKey(h)
		cmds = append(cmds,
			[]string{"config", "--global", "--unset-all", key},
			[]string{"config", "--global", "--add", key, ""},
			[]string{"config", "--global", "--add", key, helper})
	}
	return cmds
}

// ConfigScript is ConfigCommands as POSIX sh lines for a user to run. An
// unset that finds nothing to unset fails (status 5); "|| true" lets the
// script go on, as ConfigureHelper does.
func ConfigScript(hosts []string, helper string) string {
	var b strings.Builder
	for _, c := range ConfigCommands(hosts, helper) {
		line := []string{"git"}
		for _, w := range c {
			line = append(line, toolconfig.ShellWord(w))
		}
		if c[2] == "--unset-all" {
			line = append(line, "||", "true")
		}
		b.WriteString(strings.Join(line, " ") + "\n")
	}
	return b.String()
}

// HelperCommand is the credential helper value that runs exe with args
// (after the action's "git-credential" subcommand), for a git on goos
// (runtime.GOOS; a parameter for the tests). git runs a helper that is an
// absolute path through its shell (Git for Windows' sh too) with the
// action appended. A path that needs quoting (a space, as in C:\Program
// Files) no longer looks absolute to git, which would run "git
// credential-'…'" instead, so it is written as a shell snippet ("!…"). sh
// reads backslashes as escapes, so Windows paths are written with forward
// slashes, which Windows accepts and git still sees as absolute (C:/…).
func HelperCommand(goos, exe string, args []string) string {
	if goos == "windows" {
		exe = strings.ReplaceAll(exe, `\`, "/")
	}
	words := []string{toolconfig.ShellWord(exe), "git-credential"}
	for _, a := range args {
		words = append(words, toolconfig.ShellWord(a))
	}
	helper := strings.Join(words, " ")
	if words[0] != exe {
		helper = "!" + helper
	}
	return helper
}

// ServedByDefault reports whether a Helper without Hosts serves every host
// that pattern (a host or "*.domain") matches.
func ServedByDefault(pattern string) bool {
	for _, p := range DefaultHosts {
		if p == pattern || MatchHost(p, pattern) {
			return true
		}
	}
	return false
}

// GlobalConfig is the HelperConfig of the user's global git configuration
// (git config --global), edited by running git, which owns the format.
type GlobalConfig struct {
	// Git is the git program. Optional; default "git", found on this
	// process's PATH.
	Git string
	// Getenv reads the environment git runs in: PATH, the home directory,
	// GIT_CONFIG_GLOBAL and XDG_CONFIG_HOME, which choose the file, and
	// on Windows what a program needs to start. Optional; default
	// os.Getenv.
	Getenv func(string) string
}

// ConfigureHelper runs ConfigCommands.
func (g *GlobalConfig) ConfigureHelper(ctx context.Context, hosts []string, helper string) error {
	git, getenv := g.Git, g.Getenv
	if git == "" {
		git = "git"
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, c := range ConfigCommands(hosts, helper) {
		cmd := exec.CommandContext(ctx, git, c...)
		cmd.Env = toolconfig.Env(getenv)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if c[2] == "--unset-all" && errors.As(err, &ee) && ee.ExitCode() == 5 {
			continue // nothing to unset
		}
		if err != nil {
			return fmt.Errorf("git %s: %v: %s", strings.Join(c[:3], " "), err, strings.TrimSpace(stderr.String()))
		}
	}
	return nil
}
