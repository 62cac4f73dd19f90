package gcptoken_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/fakegoogle/fakegoogletest"
)

// The counterparts in Google's libraries are compiled, never run (they
// would call Google); this keeps them referenced.
var _ = []func(){
	googleAccessTokenFromADC, googleIDTokenForCloudRun, googleHTTPClientForCloudRun,
	googleVerifyIDTokenInAHandler, googleImpersonate, googleCloudClientLibrary,
}

// taskLines are the lines of code (not blank, not comments) of each task's
// body in example_tasks_test.go (gcptoken) and google_tasks_test.go
// (cloud.google.com/go/auth), as README's Library section reports them.
var taskLines = map[string][2]int{
	"accessTokenFromADC":      {5, 9},
	"idTokenForCloudRun":      {5, 9},
	"httpClientForCloudRun":   {10, 14},
	"verifyIDTokenInAHandler": {8, 13},
	"impersonate":             {13, 12},
	"cloudClientLibrary":      {18, 14},
}

// TestTaskLineCounts counts the task bodies of both files, so that the
// comparison in README stays true when either side changes.
func TestTaskLineCounts(t *testing.T) {
	t.Parallel()
	ours := bodyLines(t, "example_tasks_test.go", "Example_")
	google := bodyLines(t, "google_tasks_test.go", "google")
	var table strings.Builder
	for task, want := range taskLines {
		got := [2]int{ours[strings.ToLower(task)], google[strings.ToLower(task)]}
		fmt.Fprintf(&table, "%-24s gcptoken %2d  Google %2d\n", task, got[0], got[1])
		if got != want {
			t.Errorf("%s: %d lines with gcptoken, %d with Google's libraries; taskLines says %v: update it and README", task, got[0], got[1], want)
		}
	}
	if len(ours) != len(taskLines) || len(google) != len(taskLines) {
		t.Errorf("got %d gcptoken and %d Google tasks; taskLines has %d", len(ours), len(google), len(taskLines))
	}
	t.Logf("lines of code per task:\n%s", table.String())
}

// bodyLines maps each function whose name starts with prefix (lower-cased,
// prefix removed) to the lines of its body that hold code.
func bodyLines(t *testing.T, file, prefix string) map[string]int {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || !strings.HasPrefix(fn.Name.Name, prefix) || fn.Body == nil {
			continue
		}
		start, end := fset.Position(fn.Body.Lbrace).Offset+1, fset.Position(fn.Body.Rbrace).Offset
		n := 0
		for _, line := range strings.Split(string(src[start:end]), "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "//") {
				n++
			}
		}
		out[strings.ToLower(strings.TrimPrefix(fn.Name.Name, prefix))] = n
	}
	return out
}

// The examples that need no Google resource run against the fake, with
// Application Default Credentials pointing at it. Not parallel: SetADC.
func TestTaskExamplesRun(t *testing.T) {
	fake, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	fakegoogletest.SetADC(t, fake)
	Example_accessTokenFromADC() // log.Fatal ends the test binary on failure
	Example_idTokenForCloudRun()
	if n := fake.RequestCount("/token"); n != 2 {
		t.Errorf("got %d token requests; want 2", n)
	}
}
