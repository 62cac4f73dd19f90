// Package cputime reports the CPU time the current process has used, for
// tests that check that a wait blocks instead of spinning. It exists so that
// those tests compile and run on every platform: getrusage is Unix-only,
// Windows has GetProcessTimes.
package cputime

import "time"

// Process returns the user plus system CPU time the current process has
// used so far.
func Process() (time.Duration, error) { return process() }
