package cputime

import (
	"fmt"
	"time"

	"golang.org/x/sys/windows"
)

func process() (time.Duration, error) {
	var creation, exit, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(windows.CurrentProcess(), &creation, &exit, &kernel, &user); err != nil {
		return 0, fmt.Errorf("GetProcessTimes: %w", err)
	}
	// Kernel and user times are durations in 100-nanosecond units, not
	// dates: Filetime.Nanoseconds would subtract the 1601 epoch.
	ticks := func(f windows.Filetime) time.Duration {
		return time.Duration(int64(f.HighDateTime)<<32|int64(f.LowDateTime)) * 100
	}
	return ticks(kernel) + ticks(user), nil
}
