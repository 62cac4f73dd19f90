package cputime

import (
	"testing"
	"time"
)

// TestProcessCountsWork: spinning for a while shows up as CPU time, and
// sleeping does not.
func TestProcessCountsWork(t *testing.T) {
	t0, err := Process()
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
	}
	t1, err := Process()
	if err != nil {
		t.Fatal(err)
	}
	if spun := t1 - t0; spun < 100*time.Millisecond {
		t.Errorf("got %v of CPU time after spinning for 300ms; want at least 100ms", spun)
	}
	time.Sleep(300 * time.Millisecond)
	t2, err := Process()
	if err != nil {
		t.Fatal(err)
	}
	if slept := t2 - t1; slept > 150*time.Millisecond {
		t.Errorf("got %v of CPU time while sleeping 300ms; want next to none", slept)
	}
}
