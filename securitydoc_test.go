package gcptoken

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestThreatModelNamesEverySecurityTest keeps docs/security.md's table of attacks
// current: every TestSecurity… test in the repository, nested modules
// included, must be named there, in full or by the `…Suffix` shorthand the
// table uses after the first test of a package. A defence whose test is
// not in the table is one a reader of the threat model cannot find.
func TestThreatModelNamesEverySecurityTest(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	declared := regexp.MustCompile(`(?m)^func (TestSecurity\w+)\(`)
	found := 0
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "bin" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range declared.FindAllSubmatch(src, -1) {
			name := string(m[1])
			found++
			short := "…" + strings.TrimPrefix(name, "TestSecurity") + "`"
			if !strings.Contains(string(doc), name) && !strings.Contains(string(doc), short) {
				t.Errorf("%s (%s) is not named in docs/security.md: add its attack, defence and test to the table", name, filepath.ToSlash(path))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 60 {
		t.Fatalf("found %d TestSecurity tests; the walk missed files (want at least 60)", found)
	}
}
