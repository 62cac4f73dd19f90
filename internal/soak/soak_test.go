package soak

import (
	"testing"
	"time"
)

// TestSoakShort is the CI form of `make soak`: 5 seconds per server with
// 200 clients, a 20% upstream error rate and 500 ms latency spikes. Tokens
// live 8 s and are refreshed from 15 s before expiry, so every request
// in the run falls in a refresh window: each server refreshes throughout,
// through the faults. No client may see an error, and the token endpoint
// must see a bounded number of calls, not one per client request.
func TestSoakShort(t *testing.T) {
	const d = 5 * time.Second
	reports, err := Run(t.Context(), Config{Duration: d, Clients: 200, TokenLifetime: 8 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 2 {
		t.Fatalf("got %d reports; want 2 (metadata server, proxy)", len(reports))
	}
	for _, r := range reports {
		t.Log(r)
		// A floor low enough for -race on a busy two-core machine.
		if r.Requests < 100 {
			t.Errorf("%s: only %d requests in %v; the load did not run", r.Server, r.Requests, d)
		}
		if r.Errors != 0 {
			t.Errorf("%s: %d client errors (first: %s); want 0 while a valid token exists", r.Server, r.Errors, r.FirstError)
		}
		// One refresh at a time (coalesced), each at most 3 attempts and
		// each attempt at least one spike-free round trip: far below one
		// call per request. 60 bounds it with room for slow machines.
		if r.UpstreamCalls == 0 || r.UpstreamCalls > 60 {
			t.Errorf("%s: %d upstream token calls; want between 1 and 60", r.Server, r.UpstreamCalls)
		}
	}
}
