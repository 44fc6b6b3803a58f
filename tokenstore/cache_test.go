package tokenstore

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestCacheEvictsTheLeastRecentlyUsed(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := &cache{limit: 3}
	for i := range 3 {
		touch(c.get(fmt.Sprintf("a%d", i), now), now.Add(time.Duration(i)*time.Second))
	}
	touch(c.get("a0", now), now.Add(10*time.Second)) // a0 used again: a1 is the oldest
	c.get("a3", now.Add(11*time.Second))
	if c.len() != 3 {
		t.Fatalf("len = %d, want the limit 3", c.len())
	}
	if _, ok := c.lookup("a1"); ok {
		t.Fatal("a1, the least recently used, was kept")
	}
	for _, a := range []string{"a0", "a2", "a3"} {
		if _, ok := c.lookup(a); !ok {
			t.Fatalf("%s was evicted", a)
		}
	}
	if e1, e2 := c.get("a2", now), c.get("a2", now); e1 != e2 {
		t.Fatal("one account, two entries")
	}
}

func TestCacheMissedInvalidations(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := &cache{limit: 10}
	e := c.get("a", now)
	e.remember(ErrNoToken, now.Add(time.Second), now)
	s := e.state.Load()
	if !c.errValid(s, now) || c.stale(s.checkedAt, now, time.Minute) {
		t.Fatal("a fresh snapshot is stale")
	}
	if !c.stale(s.checkedAt, now.Add(time.Minute+time.Nanosecond), time.Minute) {
		t.Fatal("a snapshot older than recheckAfter is not stale")
	}
	c.missedInvalidations(now.Add(time.Millisecond))
	if !c.stale(s.checkedAt, now, time.Minute) || c.errValid(s, now) {
		t.Fatal("after missed invalidations the snapshot is still trusted")
	}
}

func TestEntryRememberIsBounded(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var e entry
	e.remember(ErrReauthRequired, now.Add(time.Hour), now)
	if s := e.state.Load(); !errors.Is(s.err, ErrReauthRequired) || !s.errUntil.Equal(now.Add(errRecheck)) {
		t.Fatalf("remembered until %v, want at most errRecheck", s.errUntil)
	}
	cred := e.publish(Record{AccessToken: "a", Status: StatusOK, Expiry: now.Add(time.Hour), RefreshedAt: now, Cause: CauseAhead}, freshness{ahead: time.Minute}, now)
	if s := e.state.Load(); s.cred != cred || e.lastGood.Load() != s || !s.freshUntil.Equal(now.Add(59*time.Minute)) ||
		cred.prov != (provenance{now, CauseAhead}) {
		t.Fatalf("published snapshot %+v", s)
	}
	e.reset()
	if e.state.Load() != nil || e.lastGood.Load() != nil {
		t.Fatal("reset kept a copy")
	}
}

// Eviction samples entries at random: when as many new accounts arrive as the cache
// holds, most of the older entries go. (An approximate LRU over a fixed window of
// the map, sync.Map's iteration order, keeps evicting the newest arrivals instead.)
func TestCacheEvictsTheOlderEntries(t *testing.T) {
	const limit = 1000
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := &cache{limit: limit}
	for i := range limit {
		c.get(fmt.Sprintf("old-%d", i), now)
	}
	for i := range limit {
		c.get(fmt.Sprintf("new-%d", i), now.Add(time.Duration(i+1)*time.Second))
	}
	old := 0
	for i := range limit {
		if _, ok := c.lookup(fmt.Sprintf("old-%d", i)); ok {
			old++
		}
	}
	t.Logf("%d of %d entries are old after %d new arrivals", old, c.len(), limit)
	if c.len() != limit || old > limit/4 {
		t.Fatalf("%d entries, %d of them old after %d new arrivals; want %d, at most %d old", c.len(), old, limit, limit, limit/4)
	}
}

// Validation borrows an entry: it does not evict, and it leaves unless a request
// used it meanwhile.
func TestCacheBorrow(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := &cache{limit: 2}
	c.get("a", now)
	c.get("b", now)
	e, added := c.borrow("v")
	if !added || c.len() != 3 {
		t.Fatalf("borrow: added %v, %d entries", added, c.len())
	}
	c.giveBack(e)
	if _, ok := c.lookup("v"); ok || c.len() != 2 {
		t.Fatal("an unused borrowed entry stayed")
	}
	for _, a := range []string{"a", "b"} {
		if _, ok := c.lookup(a); !ok {
			t.Fatalf("borrowing evicted %s", a)
		}
	}
	e, _ = c.borrow("w")
	touch(c.get("w", now), now) // a request uses it meanwhile
	c.giveBack(e)
	if _, ok := c.lookup("w"); !ok {
		t.Fatal("a borrowed entry a request used was dropped")
	}
	if e, added := c.borrow("a"); added || e == nil {
		t.Fatal("borrowing a cached account added an entry")
	}
}
