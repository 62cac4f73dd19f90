//go:build unix

package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestREADME runs the README's shell examples as a reader would, from the
// top: each ```sh block in a shell of its own, line after line, where
// every command must succeed and every "# → TEXT" line must appear in the
// block's output. The shells share what a reader's terminals share: the
// gcptoken that the Install block installs (`make install`, into a
// GOPATH of the test's), on PATH. Each runs in a new scratch directory
// with a new home, and when it ends every process it started (the
// emulator in the background) is stopped.
//
// A block that cannot run here says so, with the reason, on the line
// before its fence:
//
//	<!-- readme-test: skip: REASON -->
//
// and the Install block, which needs the repository, is marked
// <!-- readme-test: in the checkout -->. Every fenced block is run or
// marked, but Go code and ```text.
//
// Two things differ from a reader's terminal, so that the test can run
// beside other emulators: the emulator's ports in the examples (8086,
// 8087, 8443) are replaced with free ones, and `gcptoken emulator` without
// --listen gets one on a free port.
func TestREADME(t *testing.T) {
	bash := requireTool(t, "bash", "install bash")
	makeTool := requireTool(t, "make", "install make (Debian: apt-get install make)")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readmeBlocks(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	env := readmeEnv(t, filepath.Dir(makeTool))
	ports := freePorts(t)
	ran := 0
	for _, b := range blocks {
		if b.skip != "" || !b.shell() {
			continue
		}
		ran++
		name := fmt.Sprintf("README.md:%d", b.line)
		t.Logf("%s: running its %d lines", name, len(b.lines))
		dir := repo
		if !b.inCheckout {
			dir = t.TempDir()
		}
		sessionEnv := append(env, "HOME="+t.TempDir(), "TMPDIR="+t.TempDir())
		out, err := runReadmeBlock(t, bash, dir, sessionEnv, b.line, ports.rewrite(b))
		if m := regexp.MustCompile(`README-TEST-FAIL line (\d+) exit (\d+)`).FindStringSubmatch(out); m != nil {
			t.Fatalf("README.md:%s: the command exited %s\n--- its block's output:\n%s", m[1], m[2], out)
		}
		if err != nil {
			t.Fatalf("%s: %v\n--- the block's output:\n%s", name, err, out)
		}
		for _, want := range b.expect {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the output lacks %q\n--- the block's output:\n%s", name, want, out)
			}
		}
	}
	if ran < 4 {
		t.Errorf("ran %d README blocks; want the Install block and the emulator's at least", ran)
	}
}

// readmeBlock is one fenced block of the README.
type readmeBlock struct {
	line       int    // of the first line inside the fence
	lang       string // the fence's info string
	lines      []string
	skip       string // the reason it is not run
	inCheckout bool
	expect     []string // "# → TEXT" lines
}

func (b readmeBlock) shell() bool { return b.lang == "sh" || b.lang == "bash" }

var readmeMarker = regexp.MustCompile(`^<!-- readme-test: (.*) -->$`)

// readmeBlocks finds the fenced blocks and their markers, and refuses a
// block that is neither runnable nor marked, or a marker without reason.
func readmeBlocks(readme string) ([]readmeBlock, error) {
	var blocks []readmeBlock
	var cur *readmeBlock
	marker := ""
	sc := bufio.NewScanner(strings.NewReader(readme))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, line)
			if want, ok := strings.CutPrefix(strings.TrimSpace(line), "# → "); ok {
				cur.expect = append(cur.expect, want)
			}
		case strings.HasPrefix(line, "```"):
			cur = &readmeBlock{line: n + 1, lang: strings.TrimPrefix(line, "```")}
			switch {
			case marker == "in the checkout":
				cur.inCheckout = true
			case strings.HasPrefix(marker, "skip: ") && len(strings.TrimSpace(marker[len("skip: "):])) > 0:
				cur.skip = marker[len("skip: "):]
			case marker != "":
				return nil, fmt.Errorf("README.md:%d: marker %q: want \"skip: REASON\" or \"in the checkout\"", n-1, marker)
			}
			if cur.skip == "" && !cur.shell() && cur.lang != "go" && cur.lang != "text" {
				return nil, fmt.Errorf("README.md:%d: a ```%s block that the test cannot run: mark it <!-- readme-test: skip: REASON -->", n, cur.lang)
			}
		}
		marker = ""
		if m := readmeMarker.FindStringSubmatch(line); m != nil {
			marker = m[1]
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("README.md:%d: the block never ends", cur.line)
	}
	return blocks, sc.Err()
}

// readmeEnv is the environment of every shell: nothing of this machine's
// but PATH (the test's GOPATH/bin first, where `make install` puts
// gcptoken) and Go's own settings, so that `make install` builds with the
// module and build caches and go env file of whoever runs the test.
func readmeEnv(t *testing.T, makeDir string) []string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	gopath := t.TempDir()
	env := []string{
		"PATH=" + filepath.Join(gopath, "bin") + string(os.PathListSeparator) + filepath.Dir(goTool) +
			string(os.PathListSeparator) + makeDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"GOPATH=" + gopath,
		"LANG=C.UTF-8",
		// Nothing answers here: the ADC search never reaches a real
		// metadata server.
		"GCE_METADATA_HOST=" + strings.TrimPrefix(closedPort(t), "http://"),
	}
	for _, k := range []string{"GOENV", "GOCACHE", "GOMODCACHE"} {
		out, err := exec.Command(goTool, "env", k).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", k, err)
		}
		env = append(env, k+"="+strings.TrimSpace(string(out)))
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOFLAGS", "GOPROXY", "GONOSUMDB", "GONOPROXY", "GOPRIVATE", "GOSUMDB", "GOTOOLCHAIN", "GOINSECURE":
			env = append(env, kv)
		}
	}
	return env
}

// readmePorts maps the examples' fixed ports to free ones.
type portMap map[string]string

func freePorts(t *testing.T) portMap {
	t.Helper()
	p := portMap{}
	for _, fixed := range []string{"8086", "8087", "8443"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p[fixed] = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
	}
	return p
}

var emulatorStart = regexp.MustCompile(`^gcptoken emulator (?:[^w]|w[^a])`)

// rewrite returns b's lines with the ports mapped and --listen given to
// the emulator.
func (p portMap) rewrite(b readmeBlock) []string {
	out := make([]string, len(b.lines))
	for i, line := range b.lines {
		for fixed, free := range p {
			line = strings.ReplaceAll(line, "127.0.0.1:"+fixed, "127.0.0.1:"+free)
		}
		if emulatorStart.MatchString(line) && !strings.Contains(line, "--listen") {
			line = "gcptoken emulator --listen 127.0.0.1:" + p["8086"] + " " + strings.TrimPrefix(line, "gcptoken emulator ")
		}
		out[i] = line
	}
	return out
}

// runReadmeBlock runs lines in bash in dir and returns what it printed. A
// command that fails prints README-TEST-FAIL with its README line: the
// block's lines are numbered from the README's.
func runReadmeBlock(t *testing.T, bash, dir string, env []string, first int, lines []string) (string, error) {
	t.Helper()
	var script strings.Builder
	script.WriteString("set -o pipefail\n")
	script.WriteString(`trap 'echo "README-TEST-FAIL line $__readme_line exit $?"; exit 1' ERR` + "\n")
	continued := false
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if !continued && trimmed != "" && !strings.HasPrefix(trimmed, "#") {
			fmt.Fprintf(&script, "__readme_line=%d\n", first+i)
		}
		script.WriteString(line + "\n")
		continued = strings.HasSuffix(line, `\`)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "--norc", "--noprofile", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The emulator the block leaves running in the background holds
	// stdout open: do not wait for it once the shell is done.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return "", err
	}
	pgid := cmd.Process.Pid
	err := cmd.Wait()
	// Stop what the block left running: the shell's process group, which
	// this test started.
	syscall.Kill(-pgid, syscall.SIGTERM)
	switch {
	case ctx.Err() != nil:
		return out.String(), fmt.Errorf("the block did not end within 5 minutes")
	case errors.Is(err, exec.ErrWaitDelay):
		return out.String(), nil // the shell ended; a background job held its output
	}
	return out.String(), err
}
