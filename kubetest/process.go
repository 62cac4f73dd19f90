//go:build unix

package kubetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// process is one server child process. It runs in a process group of its
// own so that stop reaches anything it spawned, and (on Linux) gets SIGKILL
// when the test binary dies, so a test killed by `go test -timeout` does not
// leave servers behind.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error
}

// startProcess starts binary with args, appending its stdout and stderr to
// logPath (kept across restarts, so the log tells the whole story).
func startProcess(name, logPath, binary string, args []string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	defer logFile.Close() // the child has its own descriptor
	fmt.Fprintf(logFile, "=== kubetest: starting %s at %s\n", name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = []string{} // nothing from the test's environment (proxies, kubeconfig) leaks in
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid is the process id (the process group id too).
func (p *process) pid() int { return p.cmd.Process.Pid }

// exitError returns why the process exited, or nil while it runs.
func (p *process) exitError() error {
	select {
	case <-p.done:
		if p.waitErr == nil {
			return fmt.Errorf("%s exited", p.name)
		}
		return fmt.Errorf("%s exited: %w", p.name, p.waitErr)
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group, and SIGKILL after grace, and
// waits for the process to exit.
func (p *process) stop(grace time.Duration) {
	pgid := -p.pid()
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
	// Anything left in the group (nothing, normally) goes too.
	_ = syscall.Kill(pgid, syscall.SIGKILL)
}

// logTail returns the last lines of the process's log, for failure messages.
func (p *process) logTail(lines int) string {
	return tailFile(p.logPath, lines)
}

func tailFile(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	data = bytes.TrimRight(data, "\n")
	for i, n := len(data)-1, 0; i >= 0; i-- {
		if data[i] == '\n' {
			if n++; n == lines {
				return string(data[i+1:])
			}
		}
	}
	return string(data)
}
