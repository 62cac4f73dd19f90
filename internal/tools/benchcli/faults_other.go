//go:build !unix

package main

import "os"

// minorFaults is unknown here: only Unix's rusage counts them.
func minorFaults(*os.ProcessState) int64 { return -1 }
