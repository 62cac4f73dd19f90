package console

import (
	"context"
	"sync"
	"time"
)

// timeline keeps the latest exchanges in a ring: memory stays bounded
// however long the emulator runs. Waiters (the page's live updates) are
// woken when an entry arrives or the console closes.
type timeline struct {
	mu      sync.Mutex
	ring    []*entry // ring[(id-1) % len(ring)] holds entry id
	last    uint64   // id of the newest entry; 0 before the first
	changed chan struct{}
	closed  bool
}

func newTimeline(capacity int) *timeline {
	return &timeline{ring: make([]*entry, capacity), changed: make(chan struct{})}
}

// add numbers e and keeps it, dropping the oldest when the ring is full.
func (t *timeline) add(e *entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last++
	e.ID = t.last
	t.ring[int((e.ID-1)%uint64(len(t.ring)))] = e
	if !t.closed {
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

// newest returns the id of the newest entry.
func (t *timeline) newest() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// get returns entry id if the ring still holds it.
func (t *timeline) get(id uint64) *entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == 0 || id > t.last || t.last-id >= uint64(len(t.ring)) {
		return nil
	}
	return t.ring[int((id-1)%uint64(len(t.ring)))]
}

// list returns the kept entries newer than after that match, newest
// first, at most limit of them, and how many entries are kept in all.
func (t *timeline) list(after uint64, match func(*entry) bool, limit int) (out []*entry, kept int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	kept = int(min(t.last, uint64(len(t.ring))))
	for id := t.last; id > after && t.last-id < uint64(len(t.ring)) && len(out) < limit; id-- {
		if e := t.ring[int((id-1)%uint64(len(t.ring)))]; match(e) {
			out = append(out, e)
		}
	}
	return out, kept
}

// wait blocks until an entry newer than after exists, the timeout passes,
// ctx ends or the timeline closes; it reports whether there is one.
func (t *timeline) wait(ctx context.Context, after uint64, timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		t.mu.Lock()
		last, changed, closed := t.last, t.changed, t.closed
		t.mu.Unlock()
		if last > after {
			return true
		}
		if closed {
			return false
		}
		select {
		case <-changed:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// close wakes every waiter for good.
func (t *timeline) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.changed)
	}
}
