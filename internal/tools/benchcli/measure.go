package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// Result is a case's runs and its floor's, made in one loop.
type Result struct {
	Case            Case
	Gcptoken, Floor []Run
	// FakeTime is the time the fake's handler took per request during
	// the runs: the part of an uncached run spent in the fake.
	FakeTime []time.Duration
}

// Measure runs c's command and its floor n times each, alternating in one
// loop (gcptoken first in even rounds, the floor first in odd ones), so
// that whatever else the machine does weighs on both alike. It checks that
// a cached command never reached the fake and that an uncached one made
// exactly one request per run.
func (b *Bench) Measure(ctx context.Context, c Case, n int) (*Result, error) {
	r := &Result{Case: c}
	requests := b.server.requests.Load()
	b.server.takeHandlerTimes()
	for i := range n {
		for j := range 2 {
			isGcptoken := (i+j)%2 == 0
			bin := c.floorBin
			if isGcptoken {
				bin = b.gcptoken
			}
			_, run, err := b.run(ctx, bin, &c, isGcptoken)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.Name, err)
			}
			if isGcptoken {
				r.Gcptoken = append(r.Gcptoken, run)
			} else {
				r.Floor = append(r.Floor, run)
			}
		}
	}
	want := int64(0)
	if c.Uncached {
		want = int64(n)
	}
	if got := b.server.requests.Load() - requests; got != want {
		return nil, fmt.Errorf("%s: %d runs made %d requests to the fake; want %d (a cached command must not fetch, an uncached one fetches once)",
			c.Name, n, got, want)
	}
	r.FakeTime = b.server.takeHandlerTimes()
	return r, nil
}

// Ratio is the ratio of the medians of the wall times, gcptoken over its
// floor.
func (r *Result) Ratio() float64 {
	return float64(median(walls(r.Gcptoken))) / float64(median(walls(r.Floor)))
}

func walls(runs []Run) []time.Duration {
	out := make([]time.Duration, len(runs))
	for i, r := range runs {
		out[i] = r.Wall
	}
	return out
}

func cpus(runs []Run) []time.Duration {
	out := make([]time.Duration, len(runs))
	for i, r := range runs {
		out[i] = r.CPU
	}
	return out
}

func faults(runs []Run) []int64 {
	out := make([]int64, len(runs))
	for i, r := range runs {
		out[i] = r.MinorFaults
	}
	return out
}

// median is the middle value (the lower of the two middle ones for an
// even count); zero for none.
func median[T cmp.Ordered](xs []T) T { return quantile(xs, 50) }

// p90 is the 90th percentile by the nearest-rank method.
func p90[T cmp.Ordered](xs []T) T { return quantile(xs, 90) }

func quantile[T cmp.Ordered](xs []T, pct int) T {
	var zero T
	if len(xs) == 0 {
		return zero
	}
	s := slices.Sorted(slices.Values(xs))
	rank := (pct*len(s) + 99) / 100 // ceil(pct/100 × n), 1-based
	return s[max(rank, 1)-1]
}
