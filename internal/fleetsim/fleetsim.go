// Package fleetsim replays a Kubernetes fleet's token requests against
// gcptoken's real cache (gcptoken.NewCachedProvider, as the metadata server
// uses it: one cached provider per node and key) on a simulated clock, and
// counts the upstream calls, to check the capacity arithmetic of
// docs/scale.md: N nodes × M pods × K audiences → upstream calls per minute.
//
// Nodes are independent (each runs its own metadata server with its own
// cache), so each node is simulated on its own clock, in time order, one
// request at a time. A background refresh (a stale token served while one
// refresh runs) is waited for before the clock moves on, and the cache's
// refresh jitter is drawn from a source seeded by the Fleet, so results do
// not depend on goroutine scheduling: the same Fleet always gives the same
// Result.
package fleetsim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcptoken/gcptoken"
)

// Fleet describes the cluster and its request pattern.
type Fleet struct {
	// Nodes is the number of nodes, each with one metadata server.
	// Required.
	Nodes int
	// PodsPerNode is the number of pods on each node asking for tokens.
	// Required.
	PodsPerNode int
	// Audiences is how many ID-token audiences each pod asks for, besides
	// its access token. Optional; default 0.
	Audiences int
	// Identities is how many Google service accounts the pods of one node
	// act as (1: the single-identity server; more: per-pod identity, the
	// pods spread evenly over them). Optional; default 1.
	Identities int
	// RequestEvery is how often, on average, each pod asks for each of its
	// tokens. A pod's first request comes at a uniformly random time within
	// RequestEvery of its node's start, the next ones at exponentially
	// distributed intervals (independent clients: a Poisson process).
	// Required.
	RequestEvery time.Duration
	// TokenLifetime is the lifetime of upstream tokens. Optional; default
	// 1h, Google's.
	TokenLifetime time.Duration
	// RefreshBefore and MinRemaining are the cache's settings. Optional;
	// defaults 10m and 5m, the metadata server's.
	RefreshBefore, MinRemaining time.Duration
	// RefreshJitter is the cache's setting: each fetched token is refreshed
	// earlier than RefreshBefore by a random part of it. Optional; default
	// 0, the cache's default (a tenth of TokenLifetime); negative disables
	// it, as in the cache before it had jitter.
	RefreshJitter time.Duration
	// StartSpread spreads the nodes' start times evenly over this span, as
	// a rolling restart of the DaemonSet does. Optional; default 0: every
	// node starts at once with a cold cache.
	StartSpread time.Duration
	// Duration is the simulated time. Required.
	Duration time.Duration
	// Seed makes the pods' phases and the jitter draws. Optional.
	Seed uint64
}

func (f *Fleet) withDefaults() (Fleet, error) {
	c := *f
	if c.Nodes <= 0 || c.PodsPerNode <= 0 || c.RequestEvery <= 0 || c.Duration <= 0 {
		return c, errors.New("fleetsim: Nodes, PodsPerNode, RequestEvery and Duration must be positive")
	}
	if c.Audiences < 0 || c.Identities < 0 || c.StartSpread < 0 {
		return c, errors.New("fleetsim: Audiences, Identities and StartSpread must not be negative")
	}
	if c.Identities == 0 {
		c.Identities = 1
	}
	if c.Identities > c.PodsPerNode {
		return c, fmt.Errorf("fleetsim: %d identities for %d pods per node: some identities would have no pod", c.Identities, c.PodsPerNode)
	}
	if c.TokenLifetime == 0 {
		c.TokenLifetime = time.Hour
	}
	if c.RefreshBefore == 0 {
		c.RefreshBefore = 10 * time.Minute
	}
	if c.MinRemaining == 0 {
		c.MinRemaining = 5 * time.Minute
	}
	if c.RefreshBefore <= c.MinRemaining || c.RefreshBefore >= c.TokenLifetime {
		return c, errors.New("fleetsim: want MinRemaining < RefreshBefore < TokenLifetime")
	}
	return c, nil
}

// KeysPerNode is the number of cached tokens on one node: one access token
// and one ID token per audience, for each identity.
func (f *Fleet) KeysPerNode() int {
	return max(f.Identities, 1) * (1 + f.Audiences)
}

// Result is what a simulation counted.
type Result struct {
	// Requests is the number of token requests the pods made.
	Requests int64
	// Upstream is the number of upstream token fetches.
	Upstream int64
	// PerMinute is the upstream fetches in each simulated minute.
	PerMinute []int64
	// RefreshPerMinute is PerMinute without each key's first fetch: the
	// refresh waves that follow the start, without the start itself.
	RefreshPerMinute []int64
	// MeanInterval is the mean time between two fetches of one key.
	MeanInterval time.Duration
}

// Peak is the most upstream fetches in one simulated minute.
func (r *Result) Peak() int64 {
	if len(r.PerMinute) == 0 {
		return 0
	}
	return slices.Max(r.PerMinute)
}

// RefreshPeak is the most refreshes in one simulated minute: the peak of
// the waves after the first. (The first wave, every key's first fetch, is
// inherent to a start with a cold cache; jitter cannot spread it.)
func (r *Result) RefreshPeak() int64 {
	if len(r.RefreshPerMinute) == 0 {
		return 0
	}
	return slices.Max(r.RefreshPerMinute)
}

// jitter returns the cache's jitter window for a token fetched with
// TokenLifetime left, and the room below half that lifetime that caps the
// extra lead (gcptoken.CacheOptions.RefreshJitter documents both); a
// window of 0 means no jitter.
func (f *Fleet) jitter() (window, room time.Duration) {
	window = f.RefreshJitter
	if window == 0 {
		window = f.TokenLifetime / 10
	}
	room = f.TokenLifetime/2 - f.RefreshBefore
	if window < 0 || room <= 0 {
		return 0, 0
	}
	return window, room
}

// extraLead is the cache's documented extra lead for a draw r in [0, 1).
func (f *Fleet) extraLead(r float64) time.Duration {
	window, room := f.jitter()
	if window == 0 {
		return 0
	}
	return max(0, min(time.Duration(r*float64(window)), window-1, room))
}

// Prediction is the arithmetic of docs/scale.md for a Fleet.
type Prediction struct {
	// Interval is the mean time between two fetches of one key in steady
	// state: the token is fetched, turns stale TokenLifetime-RefreshBefore
	// less the jitter's extra lead later (half the jitter window on
	// average), and the next request for it starts the refresh. Requests
	// for a key on a node form a Poisson process of rate
	// pods-per-key/RequestEvery, so the wait for the next one averages
	// RequestEvery/pods-per-key.
	Interval time.Duration
	// PerMinute is the fleet's steady upstream fetches per minute:
	// Nodes × KeysPerNode / Interval.
	PerMinute float64
	// ColdStartPeak is the fetches in the first minute when every node
	// starts at once (StartSpread 0) and asks for every key within a
	// minute (RequestEvery ≤ 1m): every key of every node, Nodes ×
	// KeysPerNode. With the starts spread over S minutes, about Nodes ×
	// KeysPerNode / S per minute.
	ColdStartPeak float64
	// RefreshPeak is the most refreshes per minute in the waves that follow
	// such a start. Keys fetched together are refreshed together one
	// Interval later: without jitter the wave repeats at full size. Jitter
	// spreads the first refresh of each key uniformly over its window W,
	// so a wave's minute holds about Nodes × KeysPerNode / W (and no more
	// than the start spread allows); later waves, the sums of several
	// draws, spread wider still. A draw cut at half the lifetime lands in
	// one minute and adds its share.
	RefreshPeak float64
	// WithoutNodeCache is the fetches per minute if every pod fetched its
	// own tokens (caching them for the same Interval) instead of sharing
	// the node's: PodsPerNode/Identities times more.
	WithoutNodeCache float64
}

// Predict returns the arithmetic's answer for f.
func Predict(f Fleet) (Prediction, error) {
	f, err := f.withDefaults()
	if err != nil {
		return Prediction{}, err
	}
	podsPerKey := float64(f.PodsPerNode) / float64(f.Identities)
	wait := time.Duration(float64(f.RequestEvery) / podsPerKey)
	// The mean extra lead: E[min(U·W, room)] for U uniform in [0, 1).
	window, room := f.jitter()
	var meanExtra, capped time.Duration
	switch {
	case window == 0:
	case window <= room:
		meanExtra = window / 2
	default:
		meanExtra = room - time.Duration(float64(room)*float64(room)/float64(2*window))
		capped = window - room
	}
	interval := f.TokenLifetime - f.RefreshBefore - meanExtra + wait
	keys := float64(f.Nodes * f.KeysPerNode())
	p := Prediction{
		Interval:  interval,
		PerMinute: keys / interval.Minutes(),
	}
	p.WithoutNodeCache = p.PerMinute * podsPerKey
	start := max(f.StartSpread, time.Minute)
	p.ColdStartPeak = keys / start.Minutes()
	p.RefreshPeak = keys / max(start, window).Minutes()
	if capped > 0 {
		p.RefreshPeak += keys * float64(capped) / float64(window) / start.Minutes()
	}
	return p, nil
}

// Simulate runs f against gcptoken's cache.
func Simulate(ctx context.Context, f Fleet) (*Result, error) {
	f, err := f.withDefaults()
	if err != nil {
		return nil, err
	}
	minutes := int(f.Duration/time.Minute) + 1
	res := &Result{PerMinute: make([]int64, minutes), RefreshPerMinute: make([]int64, minutes)}
	var (
		mu        sync.Mutex
		intervals time.Duration
		nInterval int64
		firstErr  error
	)
	nodes := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range nodes {
				nr, err := simulateNode(ctx, &f, n)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				res.Requests += nr.requests
				for i, c := range nr.perMinute {
					res.PerMinute[i] += c
				}
				for i, c := range nr.refreshPerMinute {
					res.RefreshPerMinute[i] += c
				}
				res.Upstream += nr.upstream
				intervals += nr.intervals
				nInterval += nr.nInterval
				mu.Unlock()
			}
		}()
	}
	for n := range f.Nodes {
		nodes <- n
	}
	close(nodes)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if nInterval > 0 {
		res.MeanInterval = intervals / time.Duration(nInterval)
	}
	return res, nil
}

type nodeResult struct {
	requests, upstream int64
	perMinute          []int64
	refreshPerMinute   []int64
	intervals          time.Duration
	nInterval          int64
}

// simulateNode replays one node's requests in time order.
func simulateNode(ctx context.Context, f *Fleet, n int) (*nodeResult, error) {
	sim := newNodeSim(f, n)
	// Each pod belongs to one identity and asks for that identity's keys,
	// first at a random phase, then at exponential intervals.
	rng := rand.New(rand.NewPCG(f.Seed, uint64(n)))
	start := time.Duration(0)
	if f.Nodes > 1 {
		start = f.StartSpread * time.Duration(n) / time.Duration(f.Nodes)
	}
	type pod struct {
		next     time.Duration
		identity int
	}
	pods := make([]pod, f.PodsPerNode)
	for i := range pods {
		pods[i] = pod{next: start + time.Duration(rng.Int64N(int64(f.RequestEvery))), identity: i % f.Identities}
	}
	perIdentity := 1 + f.Audiences
	for {
		// The pod with the earliest next request (pods are few; a scan is
		// cheaper than a heap here).
		i := 0
		for j := range pods {
			if pods[j].next < pods[i].next {
				i = j
			}
		}
		p := &pods[i]
		if p.next >= f.Duration {
			return sim.nr, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sim.clock.Store(int64(p.next))
		for a := range perIdentity {
			if err := sim.request(ctx, p.identity*perIdentity+a); err != nil {
				return nil, err
			}
		}
		p.next += time.Duration(rng.ExpFloat64() * float64(f.RequestEvery))
	}
}

// nodeSim is one node: a cached provider per key over an upstream that
// counts fetches on the simulated clock.
type nodeSim struct {
	f     *Fleet
	n     int
	clock atomic.Int64 // nanoseconds since the epoch
	nr    *nodeResult

	// A node's fetches happen one at a time, in an order fixed by the
	// requests, so one source of jitter draws per node keeps the run
	// deterministic. Its stream is apart from the pods', so that a run
	// without jitter is the same as before jitter existed.
	jitterRng *rand.Rand
	providers []gcptoken.TokenProvider

	mu       sync.Mutex
	last     []time.Duration // last fetch time per key, -1 if none
	draw     []float64       // jitter draw of the key's token
	due      []time.Duration // when the key's token turns stale
	badFetch error
}

var simEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newNodeSim(f *Fleet, n int) *nodeSim {
	minutes := int(f.Duration/time.Minute) + 1
	keys := f.KeysPerNode()
	sim := &nodeSim{
		f: f, n: n,
		nr:        &nodeResult{perMinute: make([]int64, minutes), refreshPerMinute: make([]int64, minutes)},
		jitterRng: rand.New(rand.NewPCG(^f.Seed, uint64(n))),
		providers: make([]gcptoken.TokenProvider, keys),
		last:      make([]time.Duration, keys),
		draw:      make([]float64, keys),
		due:       make([]time.Duration, keys),
	}
	for k := range keys {
		sim.last[k] = -1
		sim.providers[k], _ = gcptoken.NewCachedProvider(gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) {
			return sim.fetch(k), nil
		}), &gcptoken.CacheOptions{ // valid options
			RefreshBefore: f.RefreshBefore, MinRemaining: f.MinRemaining, RefreshJitter: f.RefreshJitter, MaxAttempts: 1, Now: sim.now,
			Rand: func() float64 {
				sim.mu.Lock()
				defer sim.mu.Unlock()
				return sim.draw[k]
			},
		})
	}
	return sim
}

func (sim *nodeSim) now() time.Time { return simEpoch.Add(time.Duration(sim.clock.Load())) }

// fetch is the upstream of key k: it counts the fetch, checks that the
// cache did not refresh before the token's refresh point, and mints.
func (sim *nodeSim) fetch(k int) *gcptoken.Token {
	t := time.Duration(sim.clock.Load())
	sim.mu.Lock()
	defer sim.mu.Unlock()
	nr := sim.nr
	if sim.last[k] >= 0 && t < sim.due[k] && sim.badFetch == nil {
		sim.badFetch = fmt.Errorf("fleetsim: node %d: key %d refreshed at %s, before its refresh point %s: the cache does not jitter as gcptoken.CacheOptions documents", sim.n, k, t, sim.due[k])
	}
	nr.upstream++
	if m := int(t / time.Minute); m < len(nr.perMinute) {
		nr.perMinute[m]++
		if sim.last[k] >= 0 {
			nr.refreshPerMinute[m]++
		}
	}
	if sim.last[k] >= 0 {
		nr.intervals += t - sim.last[k]
		nr.nInterval++
	}
	sim.last[k] = t
	// The cache asks Rand for this token's draw right after this returns;
	// drawing it here lets the simulation know when the token turns stale.
	sim.draw[k] = sim.jitterRng.Float64()
	sim.due[k] = t + sim.f.TokenLifetime - sim.f.RefreshBefore - sim.f.extraLead(sim.draw[k])
	return &gcptoken.Token{Value: "tok", Kind: gcptoken.AccessToken, Expiry: sim.now().Add(sim.f.TokenLifetime)}
}

func (sim *nodeSim) stale(k int) bool {
	sim.mu.Lock()
	defer sim.mu.Unlock()
	return time.Duration(sim.clock.Load()) >= sim.due[k]
}

// request asks key k's provider for a token at the current simulated time.
func (sim *nodeSim) request(ctx context.Context, k int) error {
	prov := sim.providers[k]
	tok, err := prov.Token(ctx)
	if err != nil {
		return fmt.Errorf("fleetsim: node %d: %w", sim.n, err)
	}
	sim.nr.requests++
	// A stale token was served and a refresh started in the background:
	// wait for its new token, so that the clock does not run ahead of it
	// (which would make results depend on scheduling).
	if sim.stale(k) {
		deadline := time.Now().Add(10 * time.Second)
		for next := tok; next == tok; {
			if time.Now().After(deadline) {
				return fmt.Errorf("fleetsim: node %d: key %d served stale at %s and not refreshed: the cache does not jitter as gcptoken.CacheOptions documents", sim.n, k, time.Duration(sim.clock.Load()))
			}
			runtime.Gosched()
			if next, err = prov.Token(ctx); err != nil {
				return fmt.Errorf("fleetsim: node %d: %w", sim.n, err)
			}
		}
	}
	sim.mu.Lock()
	defer sim.mu.Unlock()
	return sim.badFetch
}
