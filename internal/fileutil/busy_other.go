//go:build !windows

package fileutil

// RetryIfBusy runs op once: outside Windows an open file never stops a
// rename or a remove.
func RetryIfBusy(op func() error) error { return op() }
