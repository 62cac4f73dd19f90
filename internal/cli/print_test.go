package cli

import (
	"os/exec"
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
