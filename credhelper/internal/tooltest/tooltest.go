// Package tooltest finds the real tools (git, kubectl) that the credhelper
// packages' tests check their configuration editing against. It is for
// tests only.
package tooltest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// Require returns the path of name on PATH. Where it is missing, the test
// is skipped, except under CI=true, where that is a failure (the
// crosscheck requirePeer rule); on Windows, where the tests run under Wine
// and only Linux builds of these tools exist, it is skipped.
func Require(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if runtime.GOOS == "windows" {
		t.Skipf("not on Windows: %s is not on PATH (under Wine only Linux builds exist, which a Windows program cannot start)", name)
	}
	msg := fmt.Sprintf("%s is not on PATH. To install: %s", name, install)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a missing tool is a failure)", msg)
	}
	t.Skip(msg)
	return ""
}
