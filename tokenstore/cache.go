package tokenstore

import (
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
// recently used evicted first (approximately).
type cache struct {
	entries sync.Map // account -> *entry
	size    atomic.Int64
	limit   int
	// recheckBefore (unix ns): entries checked before it are re-read from the store
	// in the background, because invalidations may have been missed then.
	recheckBefore atomic.Int64
}

// get returns the account's entry, creating it (and evicting another) if needed.
func (c *cache) get(account string, now time.Time) *entry {
	e, _ := c.add(account, now)
	return e
}

// add is get that also tells whether it created the entry.
func (c *cache) add(account string, now time.Time) (*entry, bool) {
	if v, ok := c.entries.Load(account); ok {
		return v.(*entry), false
	}
	e := &entry{account: account}
	e.lastUsed.Store(now.Unix())
	v, loaded := c.entries.LoadOrStore(account, e)
	if !loaded && c.size.Add(1) > int64(c.limit) {
		c.evict(account)
	}
	return v.(*entry), !loaded
}

// cool makes an entry created at created the first to be evicted, unless it was
// used since: background work (validation) does not push out the accounts that
// requests use.
func cool(e *entry, created time.Time) { e.lastUsed.CompareAndSwap(created.Unix(), 0) }

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

// evict drops the least recently used of a few sampled entries (an approximate LRU,
// as Redis does it): O(1) per insertion, and the cache cannot grow without bound.
func (c *cache) evict(keep string) {
	var victim *entry
	n := 0
	c.entries.Range(func(_, v any) bool {
		e := v.(*entry)
		if e.account != keep && (victim == nil || e.lastUsed.Load() < victim.lastUsed.Load()) {
			victim = e
		}
		n++
		return n < 8
	})
	if victim != nil && c.entries.CompareAndDelete(victim.account, victim) {
		c.size.Add(-1)
	}
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
