//go:build unix

package main

import (
	"os"
	"syscall"
)

// minorFaults is the process's minor page faults: the pages of its binary
// and heap it touched, which a larger binary or more package init raises.
func minorFaults(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Minflt)
	}
	return -1
}
