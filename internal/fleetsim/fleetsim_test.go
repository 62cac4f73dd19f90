package fleetsim

import (
	"context"
	"fmt"
	"math"
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

// jitters are the cache settings each scenario runs with: without jitter,
// the cache before it had any (what the arithmetic first predicted), and
// with the cache's default.
var jitters = []struct {
	name   string
	jitter time.Duration
}{
	{"off", -1},
	{"default", 0},
}

// TestScenarios runs every scenario with and without refresh jitter and
// checks the simulation against the arithmetic: requests made, the refresh
// interval of a key, the fetches per key over the run, and the first
// minute's burst. `go test -v -run TestScenarios ./internal/fleetsim`
// prints the table docs/scale.md quotes.
func TestScenarios(t *testing.T) {
	t.Parallel()
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-40s %-8s %9s %9s %10s %10s %10s %12s %12s %12s %12s\n", "scenario", "jitter", "requests", "upstream", "interval", "predicted", "peak/min", "pred. peak", "refresh peak", "pred. r.peak", "steady/min")
	for _, sc := range scenarios {
		for _, j := range jitters {
			f := sc.fleet
			name := sc.name + ", jitter " + j.name
			f.RefreshJitter = j.jitter
			res, err := Simulate(context.Background(), f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
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
				t.Errorf("%s: got %d requests; want %.0f ±5%%", name, res.Requests, wantReq)
			}
			if !within(float64(res.MeanInterval), float64(p.Interval), 0.015) {
				t.Errorf("%s: got a mean refresh interval of %s; want %s ±1.5%%", name, res.MeanInterval, p.Interval)
			}
			// Each key is fetched once at start, then once per interval until
			// the run ends: about 1 + (Duration-start)/Interval times.
			var wantUp float64
			for n := range f.Nodes {
				start := f.StartSpread * time.Duration(n) / time.Duration(f.Nodes)
				wantUp += float64(fd.KeysPerNode()) * (1 + float64(f.Duration-start)/float64(p.Interval))
			}
			if math.Abs(float64(res.Upstream)-wantUp) > float64(keys) {
				t.Errorf("%s: got %d upstream fetches; want %.0f (±1 per key: the run ends mid-interval)", name, res.Upstream, wantUp)
			}
			switch {
			case f.StartSpread == 0 && f.RequestEvery > time.Minute:
				// First requests spread over RequestEvery: no more than
				// every key in one minute.
				if res.Peak() > keys {
					t.Errorf("%s: got a peak of %d fetches per minute; want at most %d", name, res.Peak(), keys)
				}
			case f.StartSpread == 0:
				if res.PerMinute[0] != keys || res.Peak() != keys {
					t.Errorf("%s: got %d fetches in the first minute (peak %d); want every key of every node, %d", name, res.PerMinute[0], res.Peak(), keys)
				}
			case float64(res.Peak()) < p.ColdStartPeak/2 || float64(res.Peak()) > 2*p.ColdStartPeak:
				// A node's first fetches come within RequestEvery of its
				// start, so a minute holds the fetches of nodes that started
				// over up to two minutes.
				t.Errorf("%s: got a peak of %d fetches per minute; want %.0f within a factor of 2", name, res.Peak(), p.ColdStartPeak)
			}
			// Without jitter a cold start repeats itself one interval later,
			// smeared only by the wait for a request; TestRefreshWaves checks
			// the spread that jitter brings.
			if f.RefreshJitter < 0 && f.StartSpread == 0 && f.RequestEvery <= time.Minute && float64(res.RefreshPeak()) < 0.9*float64(keys) {
				t.Errorf("%s: got a refresh peak of %d fetches per minute; want the cold start's %d again (±10%%)", name, res.RefreshPeak(), keys)
			}
			if res.RefreshPeak() > res.Peak() {
				t.Errorf("%s: got a refresh peak of %d above the peak %d", name, res.RefreshPeak(), res.Peak())
			}
			fmt.Fprintf(&table, "%-40s %-8s %9d %9d %10s %10s %10d %12.0f %12d %12.0f %12.1f\n", sc.name, j.name, res.Requests, res.Upstream,
				res.MeanInterval.Round(time.Second), p.Interval.Round(time.Second), res.Peak(), p.ColdStartPeak, res.RefreshPeak(), p.RefreshPeak, p.PerMinute)
		}
	}
	t.Log(table.String())
}

// TestRefreshWaves starts a fleet all at once and checks that jitter
// spreads the refresh waves that follow: the first wave (every key's first
// fetch) is inherent to a cold start, but the later ones fall from the
// whole fleet's keys in one minute to about keys/W per minute for a jitter
// window of W minutes. The fleet is 100 nodes shaped like docs/scale.md's
// largest (30 pods, 3 audiences, 10 accounts per node: 4,000 keys), big
// enough for a minute's count to be within a few percent of its mean, run
// for three hours: three refresh waves.
// `go test -v -run TestRefreshWaves ./internal/fleetsim` prints the table
// docs/scale.md quotes.
func TestRefreshWaves(t *testing.T) {
	t.Parallel()
	base := Fleet{Nodes: 100, PodsPerNode: 30, Audiences: 3, Identities: 10, RequestEvery: time.Minute, Duration: 3 * time.Hour, Seed: 11}
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-24s %12s %14s %14s %14s %10s %10s\n", "jitter", "first minute", "refresh peak", "pred. r. peak", "peak/predicted", "interval", "predicted")
	const keys = 100 * 10 * (1 + 3)
	for _, tc := range []struct {
		name     string
		jitter   time.Duration
		wantPeak float64 // keys/W for a window of W minutes
	}{
		{"off", -1, keys},
		{"2m", 2 * time.Minute, keys / 2.0},
		{"default (6m)", 0, keys / 6.0},
		{"20m (60m/2 - 10m)", 20 * time.Minute, keys / 20.0},
		// Draws past 20m are cut to 20m: half the keys in one minute.
		{"40m (half cut to 20m)", 40 * time.Minute, keys/40.0 + keys/2.0},
	} {
		f := base
		f.RefreshJitter = tc.jitter
		res, err := Simulate(context.Background(), f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		p, err := Predict(f)
		if err != nil {
			t.Fatal(err)
		}
		if res.PerMinute[0] != keys {
			t.Errorf("jitter %s: got %d fetches in the first minute; want every key, %d: jitter cannot spread a cold start", tc.name, res.PerMinute[0], keys)
		}
		want := tc.wantPeak
		if !within(p.RefreshPeak, want, 0.001) {
			t.Errorf("jitter %s: Predict got a refresh peak of %.0f; want %.0f", tc.name, p.RefreshPeak, want)
		}
		// A minute's count is a sum of independent draws, so it strays
		// from its mean by about its square root (σ); the highest of a
		// few hundred minutes stays within 4σ. The wait for a request
		// smears a wave further, lowering the peak (by 10–15% when much
		// of a wave falls in one minute).
		if got := float64(res.RefreshPeak()); got > want+4*math.Sqrt(want) || got < 0.75*want {
			t.Errorf("jitter %s: got a refresh peak of %.0f fetches per minute; want %.0f (keys/W) + 4σ (%.0f) at most and 75%% of it at least", tc.name, got, want, 4*math.Sqrt(want))
		}
		fmt.Fprintf(&table, "%-24s %12d %14d %14.0f %14.2f %10s %10s\n", tc.name, res.PerMinute[0], res.RefreshPeak(), p.RefreshPeak,
			float64(res.RefreshPeak())/p.RefreshPeak, res.MeanInterval.Round(time.Second), p.Interval.Round(time.Second))
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
// arithmetic, without jitter and with the default (6 minutes for one-hour
// tokens: refreshes 3 minutes earlier on average, waves spread over 6).
func TestFleetArithmetic(t *testing.T) {
	t.Parallel()
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-52s %8s %11s %11s %10s %12s %12s %13s\n", "fleet", "keys", "steady/min", "steady/min", "cold peak", "refresh peak", "refresh peak", "no node cache")
	fmt.Fprintf(&table, "%-52s %8s %11s %11s %10s %12s %12s %13s\n", "", "", "no jitter", "jitter", "per min", "no jitter", "jitter", "jitter, /min")
	for _, tc := range []struct {
		name string
		f    Fleet
		// Hand arithmetic: keys / 50 min steady (47 with jitter); the
		// refresh waves as big as the start without jitter, the start's
		// keys over the larger of the start spread and 6 minutes with.
		wantSteady, wantSteadyJitter, wantPeakJitter float64
	}{
		{"1,000 nodes × 30 pods × 3 audiences", Fleet{Nodes: 1000, PodsPerNode: 30, Audiences: 3, RequestEvery: time.Minute, Duration: time.Hour},
			1000 * 4 / 50.0, 1000 * 4 / 47.0, 1000 * 4 / 6.0},
		{"5,000 nodes × 30 pods × 3 audiences", Fleet{Nodes: 5000, PodsPerNode: 30, Audiences: 3, RequestEvery: time.Minute, Duration: time.Hour},
			5000 * 4 / 50.0, 5000 * 4 / 47.0, 5000 * 4 / 6.0},
		{"5,000 nodes × 30 pods × 3 aud., 10 accounts/node", Fleet{Nodes: 5000, PodsPerNode: 30, Audiences: 3, Identities: 10, RequestEvery: time.Minute, Duration: time.Hour},
			5000 * 40 / 50.0, 5000 * 40 / 47.0, 5000 * 40 / 6.0},
		{"same, rolling start over 10m", Fleet{Nodes: 5000, PodsPerNode: 30, Audiences: 3, Identities: 10, RequestEvery: time.Minute, StartSpread: 10 * time.Minute, Duration: time.Hour},
			5000 * 40 / 50.0, 5000 * 40 / 47.0, 5000 * 40 / 10.0},
	} {
		off := tc.f
		off.RefreshJitter = -1
		p0, err := Predict(off)
		if err != nil {
			t.Fatal(err)
		}
		pj, err := Predict(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if !within(p0.PerMinute, tc.wantSteady, 0.01) {
			t.Errorf("%s without jitter: got %.0f fetches per minute; want about %.0f", tc.name, p0.PerMinute, tc.wantSteady)
		}
		if !within(pj.PerMinute, tc.wantSteadyJitter, 0.01) {
			t.Errorf("%s with jitter: got %.0f fetches per minute; want about %.0f", tc.name, pj.PerMinute, tc.wantSteadyJitter)
		}
		if p0.RefreshPeak != p0.ColdStartPeak || pj.ColdStartPeak != p0.ColdStartPeak {
			t.Errorf("%s: got refresh peaks %.0f without jitter and a cold start of %.0f and %.0f; want them all equal", tc.name, p0.RefreshPeak, p0.ColdStartPeak, pj.ColdStartPeak)
		}
		if !within(pj.RefreshPeak, tc.wantPeakJitter, 0.001) {
			t.Errorf("%s with jitter: got a refresh peak of %.0f per minute; want %.0f", tc.name, pj.RefreshPeak, tc.wantPeakJitter)
		}
		fmt.Fprintf(&table, "%-52s %8d %11.0f %11.0f %10.0f %12.0f %12.0f %13.0f\n", tc.name, tc.f.Nodes*tc.f.KeysPerNode(),
			p0.PerMinute, pj.PerMinute, p0.ColdStartPeak, p0.RefreshPeak, pj.RefreshPeak, pj.WithoutNodeCache)
	}
	t.Log(table.String())
}
