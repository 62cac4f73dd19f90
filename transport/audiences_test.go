package transport

import (
	"context"
	"fmt"
	"testing"

	"github.com/gcptoken/gcptoken"
)

// TestAudienceCacheBounded checks that per-request audiences cannot grow the
// cache without limit, and that eviction is least recently used first.
func TestAudienceCacheBounded(t *testing.T) {
	t.Parallel()
	made := map[string]int{}
	c := newAudienceCache(3, func(aud string) (gcptoken.TokenProvider, error) {
		made[aud]++
		return gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) { return nil, nil }), nil
	})
	get := func(aud string) {
		t.Helper()
		if _, err := c.get(aud); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		get(fmt.Sprint("https://s", i))
	}
	get("https://s0") // s0 is now the most recent; s1 the least
	get("https://s3") // evicts s1
	if got := c.len(); got != 3 {
		t.Errorf("got %d entries; want 3", got)
	}
	get("https://s0")
	get("https://s1") // made again
	if made["https://s0"] != 1 || made["https://s1"] != 2 {
		t.Errorf("got providers made %v; want s0 once (kept) and s1 twice (evicted)", made)
	}
	for i := range 500 {
		get(fmt.Sprint("https://many", i))
	}
	if got := c.len(); got != 3 {
		t.Errorf("got %d entries after 500 audiences; want 3", got)
	}
}
