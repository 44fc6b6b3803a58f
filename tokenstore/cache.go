package tokenstore

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// entry is everything a Source keeps for one account, in one place. Locking:
//
//   - state, lastGood and lastUsed are atomics: the request path reads
//     them without a lock. state is only replaced, never modified (cached is
//     immutable).
//   - flights, backoff and pending each have their own mutex, guarding only their
//     own fields. flights' and backoff's are held for a few instructions; pending's is
//     held across the pending record's store calls (rare, and the account's flights
//     wait for them anyway). No two of them are ever held at once, and none is held
//     across a token-endpoint call.
type entry struct {
	account string
	state   atomic.Pointer[cached]
	// lastGood is the last token published, kept when state is dropped by an
	// invalidation: it is served only if the store cannot be read to replace it.
	lastGood atomic.Pointer[cached]
	lastUsed atomic.Int64 // unix seconds, for eviction

	flights flights        // the account's single flight
	backoff accountBackoff // token-endpoint backoff
	pending pending        // a rotated refresh token the store has not taken yet
}

// cached is an immutable snapshot of what the Source knows about an account.
type cached struct {
	cred       *Credential
	rec        Record    // the record's times, status and cause (no secrets are read from it)
	freshUntil time.Time // before: serve without refreshing
	validUntil time.Time // before: serve, refreshing ahead in the background
	err        error     // a remembered failure (reauth, no token, unavailable)
	errUntil   time.Time
	retryAt    time.Time // no background refresh before this (backoff)
	checkedAt  time.Time
}

// publish makes rec's token the account's current one.
func (e *entry) publish(rec Record, f freshness, now time.Time) *Credential {
	cred := NewCredential(rec.AccessToken, rec.Expiry, rec.Scope)
	cred.prov = provenanceOf(rec)
	meta := Record{Account: rec.Account, AccessToken: rec.AccessToken, Expiry: rec.Expiry, RefreshedAt: rec.RefreshedAt,
		Cause: rec.Cause, Status: rec.Status}
	c := &cached{cred: cred, rec: meta, freshUntil: f.freshUntil(rec), validUntil: f.validUntil(rec), checkedAt: now}
	e.state.Store(c)
	e.lastGood.Store(c)
	return cred
}

// remember makes err the account's answer until until, for at most errRecheck.
func (e *entry) remember(err error, until, now time.Time) {
	if limit := now.Add(errRecheck); until.After(limit) {
		until = limit
	}
	e.state.Store(&cached{err: err, errUntil: until, checkedAt: now})
}

// serveUntilRetry keeps serving prev, with no background refresh before retryAt.
func (e *entry) serveUntilRetry(prev *cached, retryAt time.Time) *Credential {
	c := *prev
	c.retryAt = retryAt
	e.state.Store(&c)
	return c.cred
}

// reset drops every local copy of the account (an admin write or delete must not be
// answered from memory, even during a store outage).
func (e *entry) reset() {
	e.state.Store(nil)
	e.lastGood.Store(nil)
}

// cache is the Source's per-account state: at most limit entries, the least
// recently used evicted first (approximately). Lookups read entries without a lock;
// mu guards only keys, the eviction sample, taken when an entry is added or removed.
type cache struct {
	entries sync.Map // account -> *entry
	size    atomic.Int64
	limit   int

	mu   sync.Mutex
	keys keySet // the cached accounts, for eviction's random sample
	// recheckBefore (unix ns): entries checked before it are re-read from the store
	// in the background, because invalidations may have been missed then.
	recheckBefore atomic.Int64
}

// get returns the account's entry, creating it (and evicting another) if needed.
func (c *cache) get(account string, now time.Time) *entry {
	v, ok := c.entries.Load(account)
	if ok {
		return v.(*entry)
	}
	e, _ := c.insert(account, now.Unix())
	if c.size.Load() > int64(c.limit) {
		c.evict(account)
	}
	return e
}

// insert adds an entry last used at lastUsed (unix seconds) unless the account has
// one; it tells whether it added it.
func (c *cache) insert(account string, lastUsed int64) (*entry, bool) {
	e := &entry{account: account}
	e.lastUsed.Store(lastUsed)
	v, loaded := c.entries.LoadOrStore(account, e)
	if loaded {
		return v.(*entry), false
	}
	c.size.Add(1)
	c.mu.Lock()
	c.keys.add(account)
	c.mu.Unlock()
	return e, true
}

// borrow returns the account's entry for background work (validation) without
// evicting another: an entry it has to add is cold (never used) and goes back with
// giveBack unless a request used it meanwhile, so background work never pushes out
// the accounts requests use.
func (c *cache) borrow(account string) (e *entry, added bool) {
	if v, ok := c.entries.Load(account); ok {
		return v.(*entry), false
	}
	return c.insert(account, 0)
}

// giveBack drops an entry borrow added, unless a request used it (touch).
func (c *cache) giveBack(e *entry) {
	if e.lastUsed.Load() == 0 {
		c.remove(e)
	}
}

// remove drops e if it is still the account's entry.
func (c *cache) remove(e *entry) {
	if c.entries.CompareAndDelete(e.account, e) {
		c.size.Add(-1)
		c.mu.Lock()
		c.keys.remove(e.account)
		c.mu.Unlock()
	}
}

// lookup returns the account's entry if it is cached.
func (c *cache) lookup(account string) (*entry, bool) {
	v, ok := c.entries.Load(account)
	if !ok {
		return nil, false
	}
	return v.(*entry), true
}

// touch notes a use of e at now, for eviction (a write at most once a second).
func touch(e *entry, now time.Time) {
	if sec := now.Unix(); e.lastUsed.Load() != sec {
		e.lastUsed.Store(sec)
	}
}

// evictSample is how many random entries evict compares.
const evictSample = 8

// evict drops the least recently used of a few entries sampled at random (an
// approximate LRU, as Redis does it): O(1) per insertion, and the cache cannot grow
// without bound. The sample is random: sync.Map's iteration order is not.
func (c *cache) evict(keep string) {
	c.mu.Lock()
	var victim *entry
	for _, account := range c.keys.sample(evictSample) {
		if account == keep {
			continue
		}
		v, ok := c.entries.Load(account)
		if !ok {
			continue
		}
		if e := v.(*entry); victim == nil || e.lastUsed.Load() < victim.lastUsed.Load() {
			victim = e
		}
	}
	c.mu.Unlock()
	if victim != nil {
		c.remove(victim)
	}
}

// keySet is a set of accounts with O(1) add, remove and random pick.
type keySet struct {
	list  []string
	index map[string]int
}

func (k *keySet) add(account string) {
	if k.index == nil {
		k.index = map[string]int{}
	}
	if _, ok := k.index[account]; ok {
		return
	}
	k.index[account] = len(k.list)
	k.list = append(k.list, account)
}

func (k *keySet) remove(account string) {
	i, ok := k.index[account]
	if !ok {
		return
	}
	last := len(k.list) - 1
	k.list[i] = k.list[last]
	k.index[k.list[i]] = i
	k.list = k.list[:last]
	delete(k.index, account)
}

// sample returns n accounts picked at random, or all of them when there are no
// more than n.
func (k *keySet) sample(n int) []string {
	if len(k.list) <= n {
		return k.list
	}
	out := make([]string, n)
	for i := range out {
		out[i] = k.list[rand.IntN(len(k.list))]
	}
	return out
}

// len is the number of cached accounts.
func (c *cache) len() int { return int(c.size.Load()) }

// missedInvalidations marks every entry to be re-read from the store at its next
// use (still served while that runs).
func (c *cache) missedInvalidations(now time.Time) {
	c.recheckBefore.Store(now.UnixNano())
}

// stale reports whether a snapshot checked at checkedAt may have missed an
// invalidation, or is older than recheckAfter.
func (c *cache) stale(checkedAt, now time.Time, recheckAfter time.Duration) bool {
	return now.Sub(checkedAt) > recheckAfter || checkedAt.UnixNano() < c.recheckBefore.Load()
}

// errValid reports whether a remembered error still answers requests: until its
// errUntil, and not across a lost invalidation subscription.
func (c *cache) errValid(s *cached, now time.Time) bool {
	return now.Before(s.errUntil) && s.checkedAt.UnixNano() >= c.recheckBefore.Load()
}
