//go:build !unix && !windows

package cputime

import (
	"errors"
	"time"
)

func process() (time.Duration, error) {
	return 0, errors.New("no CPU time on this platform")
}
