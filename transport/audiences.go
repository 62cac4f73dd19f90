package transport

import (
	"container/list"
	"sync"

	"github.com/gcptoken/gcptoken"
)

// maxAudiences bounds the per-audience providers kept when the audience is
// each request's origin. A client talking to more services than this at once
// only loses some caching; memory stays bounded whatever hosts it is sent to.
const maxAudiences = 100

// audienceCache keeps one cached provider per audience, least recently used
// evicted first. Sharing the provider is what makes concurrent requests to
// one service share one token request.
type audienceCache struct {
	newProvider func(audience string) (gcptoken.TokenProvider, error)
	max         int

	mu    sync.Mutex
	order *list.List // of *audienceEntry, most recently used first
	byAud map[string]*list.Element
}

type audienceEntry struct {
	audience string
	tokens   gcptoken.TokenProvider
}

func newAudienceCache(max int, newProvider func(string) (gcptoken.TokenProvider, error)) *audienceCache {
	return &audienceCache{newProvider: newProvider, max: max, order: list.New(), byAud: map[string]*list.Element{}}
}

// get returns the provider for audience, making it if needed. Making one
// does no I/O, so it is done under the lock.
func (c *audienceCache) get(audience string) (gcptoken.TokenProvider, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byAud[audience]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*audienceEntry).tokens, nil
	}
	tp, err := c.newProvider(audience)
	if err != nil {
		return nil, err
	}
	c.byAud[audience] = c.order.PushFront(&audienceEntry{audience, tp})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.byAud, oldest.Value.(*audienceEntry).audience)
	}
	return tp, nil
}

func (c *audienceCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
