package fleetsim

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// scenarios are the fleets docs/scale.md quotes; the test checks each
// simulation against Predict.
var scenarios = []struct {
	name  string
	fleet Fleet
}{
	{"one identity, 2 audiences, cold start", Fleet{Nodes: 20, PodsPerNode: 20, Audiences: 2, RequestEvery: time.Minute, Duration: 6 * time.Hour, Seed: 1}},
	{"per-pod identity: 5 accounts per node", Fleet{Nodes: 20, PodsPerNode: 20, Audiences: 2, Identities: 5, RequestEvery: time.Minute, Duration: 6 * time.Hour, Seed: 2}},
	{"sparse requests: 2 pods every 6m", Fleet{Nodes: 40, PodsPerNode: 2, RequestEvery: 6 * time.Minute, Duration: 6 * time.Hour, Seed: 3}},
	{"rolling start over 10m", Fleet{Nodes: 60, PodsPerNode: 5, Audiences: 2, RequestEvery: time.Minute, StartSpread: 10 * time.Minute, Duration: 6 * time.Hour, Seed: 4}},
	{"10x the pods", Fleet{Nodes: 10, PodsPerNode: 200, Audiences: 2, RequestEvery: time.Minute, Duration: 6 * time.Hour, Seed: 5}},
}

func within(got, want, tolerance float64) bool {
	return math.Abs(got-want) <= tolerance*want
}

// TestScenarios runs every scenario and checks the simulation against the
// arithmetic: requests made, the refresh interval of a key, the fetches per
// key over the run, and the first minute's burst. `go test -v -run
// TestScenarios ./internal/fleetsim` prints the table docs/scale.md quotes.
func TestScenarios(t *testing.T) {
	t.Parallel()
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-40s %9s %9s %10s %10s %10s %12s %12s %12s\n", "scenario", "requests", "upstream", "interval", "predicted", "peak/min", "pred. peak", "wave 2 peak", "steady/min")
	for _, sc := range scenarios {
		f := sc.fleet
		res, err := Simulate(context.Background(), f)
		if err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
		p, err := Predict(f)
		if err != nil {
			t.Fatal(err)
		}
		fd, _ := f.withDefaults()
		keys := int64(f.Nodes * fd.KeysPerNode())

		// Every pod asks for each of its keys every RequestEvery on
		// average.
		var wantReq float64
		for n := range f.Nodes {
			start := f.StartSpread * time.Duration(n) / time.Duration(f.Nodes)
			wantReq += float64(f.PodsPerNode*(1+f.Audiences)) * float64(f.Duration-start) / float64(f.RequestEvery)
		}
		if !within(float64(res.Requests), wantReq, 0.05) {
			t.Errorf("%s: got %d requests; want %.0f ±5%%", sc.name, res.Requests, wantReq)
		}
		if !within(float64(res.MeanInterval), float64(p.Interval), 0.015) {
			t.Errorf("%s: got a mean refresh interval of %s; want %s ±1.5%%", sc.name, res.MeanInterval, p.Interval)
		}
		// Each key is fetched once at start, then once per interval until
		// the run ends: about 1 + (Duration-start)/Interval times.
		var wantUp float64
		for n := range f.Nodes {
			start := f.StartSpread * time.Duration(n) / time.Duration(f.Nodes)
			wantUp += float64(fd.KeysPerNode()) * (1 + float64(f.Duration-start)/float64(p.Interval))
		}
		if math.Abs(float64(res.Upstream)-wantUp) > float64(keys) {
			t.Errorf("%s: got %d upstream fetches; want %.0f (±1 per key: the run ends mid-interval)", sc.name, res.Upstream, wantUp)
		}
		switch {
		case f.StartSpread == 0 && f.RequestEvery > time.Minute:
			// First requests spread over RequestEvery: no more than
			// every key in one minute.
			if res.Peak() > keys {
				t.Errorf("%s: got a peak of %d fetches per minute; want at most %d", sc.name, res.Peak(), keys)
			}
		case f.StartSpread == 0:
			if res.PerMinute[0] != keys || res.Peak() != keys {
				t.Errorf("%s: got %d fetches in the first minute (peak %d); want every key of every node, %d", sc.name, res.PerMinute[0], res.Peak(), keys)
			}
		case float64(res.Peak()) < p.ColdStartPeak/2 || float64(res.Peak()) > 2*p.ColdStartPeak:
			// A node's first fetches come within RequestEvery of its
			// start, so a minute holds the fetches of nodes that started
			// over up to two minutes.
			t.Errorf("%s: got a peak of %d fetches per minute; want %.0f within a factor of 2", sc.name, res.Peak(), p.ColdStartPeak)
		}
		// The first refresh wave, one interval after the start: a cold
		// start repeats itself, smeared only by the wait for a request.
		wave2 := slices.Max(res.PerMinute[40:70])
		fmt.Fprintf(&table, "%-40s %9d %9d %10s %10s %10d %12.0f %12d %12.1f\n", sc.name, res.Requests, res.Upstream,
			res.MeanInterval.Round(time.Second), p.Interval.Round(time.Second), res.Peak(), p.ColdStartPeak, wave2, p.PerMinute)
	}
	t.Log(table.String())
}

// TestPodsDoNotMultiplyUpstream: ten times the pods on each node make ten
// times the requests but the same upstream fetches, give or take the
// refresh delay.
func TestPodsDoNotMultiplyUpstream(t *testing.T) {
	t.Parallel()
	base := Fleet{Nodes: 10, PodsPerNode: 10, Audiences: 1, RequestEvery: time.Minute, Duration: 4 * time.Hour, Seed: 7}
	more := base
	more.PodsPerNode = 100
	a, err := Simulate(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Simulate(context.Background(), more)
	if err != nil {
		t.Fatal(err)
	}
	if !within(float64(b.Requests), 10*float64(a.Requests), 0.01) {
		t.Errorf("got %d and %d requests; want a ratio of 10", a.Requests, b.Requests)
	}
	if !within(float64(b.Upstream), float64(a.Upstream), 0.02) {
		t.Errorf("got %d upstream fetches with 10 pods per node and %d with 100; want the same ±2%%", a.Upstream, b.Upstream)
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	f := Fleet{Nodes: 8, PodsPerNode: 6, Audiences: 2, Identities: 2, RequestEvery: 2 * time.Minute, StartSpread: 5 * time.Minute, Duration: 3 * time.Hour, Seed: 9}
	a, err := Simulate(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Simulate(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if a.Upstream != b.Upstream || a.Requests != b.Requests || a.MeanInterval != b.MeanInterval || fmt.Sprint(a.PerMinute) != fmt.Sprint(b.PerMinute) {
		t.Errorf("two runs of one fleet differ: %d/%d/%s and %d/%d/%s", a.Requests, a.Upstream, a.MeanInterval, b.Requests, b.Upstream, b.MeanInterval)
	}
}

func TestBadFleet(t *testing.T) {
	t.Parallel()
	ok := Fleet{Nodes: 1, PodsPerNode: 1, RequestEvery: time.Minute, Duration: time.Hour}
	for _, tc := range []struct {
		name    string
		edit    func(*Fleet)
		wantErr string
	}{
		{"no nodes", func(f *Fleet) { f.Nodes = 0 }, "must be positive"},
		{"negative audiences", func(f *Fleet) { f.Audiences = -1 }, "must not be negative"},
		{"more identities than pods", func(f *Fleet) { f.Identities = 2 }, "2 identities for 1 pods"},
		{"refresh window past lifetime", func(f *Fleet) { f.RefreshBefore = 2 * time.Hour }, "RefreshBefore < TokenLifetime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ok
			tc.edit(&f)
			if _, err := Simulate(context.Background(), f); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Simulate: got %v; want an error containing %q", err, tc.wantErr)
			}
			if _, err := Predict(f); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Predict: got %v; want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestFleetArithmetic prints the large-fleet figures of docs/scale.md
// (Predict only: nodes are independent, so the small simulations above
// carry over by multiplication) and checks them against the hand
// arithmetic.
func TestFleetArithmetic(t *testing.T) {
	t.Parallel()
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-52s %10s %12s %14s %16s\n", "fleet", "keys", "steady/min", "cold peak/min", "no node cache/min")
	for _, tc := range []struct {
		name       string
		f          Fleet
		wantSteady float64
	}{
		{"1,000 nodes × 30 pods × 3 audiences", Fleet{Nodes: 1000, PodsPerNode: 30, Audiences: 3, RequestEvery: time.Minute, Duration: time.Hour}, 1000 * 4 / 50.0},
		{"5,000 nodes × 30 pods × 3 audiences", Fleet{Nodes: 5000, PodsPerNode: 30, Audiences: 3, RequestEvery: time.Minute, Duration: time.Hour}, 5000 * 4 / 50.0},
		{"5,000 nodes × 30 pods × 3 aud., 10 accounts/node", Fleet{Nodes: 5000, PodsPerNode: 30, Audiences: 3, Identities: 10, RequestEvery: time.Minute, Duration: time.Hour}, 5000 * 40 / 50.0},
		{"same, rolling start over 10m", Fleet{Nodes: 5000, PodsPerNode: 30, Audiences: 3, Identities: 10, RequestEvery: time.Minute, StartSpread: 10 * time.Minute, Duration: time.Hour}, 5000 * 40 / 50.0},
	} {
		p, err := Predict(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if !within(p.PerMinute, tc.wantSteady, 0.01) {
			t.Errorf("%s: got %.0f fetches per minute; want about %.0f", tc.name, p.PerMinute, tc.wantSteady)
		}
		fmt.Fprintf(&table, "%-52s %10d %12.0f %14.0f %16.0f\n", tc.name, tc.f.Nodes*tc.f.KeysPerNode(), p.PerMinute, p.ColdStartPeak, p.WithoutNodeCache)
	}
	t.Log(table.String())
}
