package cli

import "testing"

// TestSubcommandNames: the names newRootCmdFor dispatches on are the
// names the commands give themselves, once each; a mismatch would build
// the whole tree for that command (slower) or, worse, the wrong one.
func TestSubcommandNames(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, sub := range subcommands {
		if got := sub.build(&App{}).Name(); got != sub.name {
			t.Errorf("subcommands entry %q builds the command %q; want the same name", sub.name, got)
		}
		if seen[sub.name] {
			t.Errorf("subcommands lists %q twice", sub.name)
		}
		seen[sub.name] = true
	}
}

// TestRootCmdForBuildsOneCommand: a command line naming a command builds
// that command alone; anything else, the whole tree.
func TestRootCmdForBuildsOneCommand(t *testing.T) {
	t.Parallel()
	all := len(subcommands)
	tests := []struct {
		args []string
		want int // commands under the root
	}{
		{[]string{"print-access-token", "--scopes", "x"}, 1},
		{[]string{"git-credential", "get"}, 1},
		{[]string{"kubectl-credential"}, 1},
		{[]string{"completion", "bash"}, all},
		{[]string{"help", "print-access-token"}, all},
		{[]string{"--log-level", "debug", "print-access-token"}, all},
		{[]string{"print-acess-token"}, all},
		{[]string{"__complete", "print-access-token", ""}, all},
		{nil, all},
	}
	for _, tt := range tests {
		if got := len(newRootCmdFor(&App{}, tt.args).Commands()); got != tt.want {
			t.Errorf("newRootCmdFor(%q) has %d commands; want %d", tt.args, got, tt.want)
		}
	}
}
