package tokenstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

// Errors a Source returns to its callers (the proxy maps them to Spotify-shaped answers).
var (
	// ErrNoToken: the account has no record (and is not the client-credentials account).
	ErrNoToken = errors.New("tokenstore: no token for account")
	// ErrReauthRequired: the refresh token was rejected; a user must log in again.
	ErrReauthRequired = errors.New("tokenstore: account needs re-authorisation")
	// ErrStaleDelivery: a delivered token is older than the stored one.
	ErrStaleDelivery = errors.New("tokenstore: delivered token is older than the stored one")
	// ErrRefreshTooSoon (from Invalidate): Spotify's 401 was for a token that was
	// itself obtained because of a 401, less than UnauthorizedRefreshInterval ago. No
	// refresh is made; the caller lets the 401 through.
	ErrRefreshTooSoon = errors.New("tokenstore: a 401 for a token obtained because of a 401 moments ago; not refreshing again")
)

// UnavailableError: no valid token can be had now (token endpoint or store failing).
type UnavailableError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("tokenstore: token unavailable (retry after %s): %v", e.RetryAfter, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Credential is a usable access token. It is shared and must not be modified.
type Credential struct {
	// Authorization is the ready header value, "Bearer <access token>".
	Authorization string
	AccessToken   string
	Expiry        time.Time
	Scope         string

	header []string // {Authorization}, shared by every request using the credential

	// From the record the Source published it from: when its refresh began and why.
	refreshedAt time.Time
	trigger     string
}

// NewCredential builds a Credential for an access token.
func NewCredential(accessToken string, expiry time.Time, scope string) *Credential {
	auth := "Bearer " + accessToken
	return &Credential{Authorization: auth, AccessToken: accessToken, Expiry: expiry, Scope: scope, header: []string{auth}}
}

// AuthorizationHeader is the header value list {"Bearer <access token>"}, built once
// per token so that requests set it without allocating. It is shared: callers must not
// modify it.
func (c *Credential) AuthorizationHeader() []string {
	if c.header == nil {
		return []string{c.Authorization}
	}
	return c.header
}

// Config configures a Source. Store and Refresher are required.
type Config struct {
	Store     Store
	Refresher Refresher
	Locker    Locker   // default NopLocker (single instance)
	Notifier  Notifier // optional: cross-replica cache invalidation
	Metrics   *metrics.Metrics
	Logger    *slog.Logger
	Now       func() time.Time

	AppAccount string // the client-credentials account
	// RefreshAhead: refresh in the background when less than this is left (default 5m;
	// negative: never ahead, only at expiry). It is capped at half a token's lifetime, so
	// a token shorter-lived than the window is refreshed once, not on every request.
	RefreshAhead   time.Duration
	RefreshTimeout time.Duration // one token endpoint call, lock wait included (default 20s)
	ReauthBackoff  time.Duration // after invalid_grant, wait this long before trying the token again (default 5m)
	RetryBase      time.Duration // first backoff after a temporary failure (default 1s)
	RetryMax       time.Duration // backoff cap while the current token is still served (default 1m)
	// RetryMaxExpired: backoff cap when no valid token is left, so callers get errors
	// until the next call succeeds (default 15s; at most RetryMax).
	RetryMaxExpired time.Duration
	CacheSize       int // accounts kept in process (default 10000); least recently used go first
	// RecheckAfter: a cached token older than this is re-read from the store in the
	// background (a fallback for missed invalidations; default 1m).
	RecheckAfter time.Duration
	// ScanInterval: how often the account gauges are recomputed from the store (default 1m; <0 disables).
	ScanInterval time.Duration
	// UnauthorizedRefreshInterval is the floor between 401-caused refreshes of an
	// account (UNAUTHORIZED_REFRESH_INTERVAL; 0: no floor). Within it, a 401 for a
	// token that was itself obtained because of a 401 is not answered with another
	// refresh: Invalidate returns ErrRefreshTooSoon. The stored record's refresh time
	// and trigger decide, so every replica keeps the same floor.
	UnauthorizedRefreshInterval time.Duration

	// BeforeWrite, when set, is called after a refresh succeeded and before its
	// conditional write. Tests use it to pause a lock holder.
	BeforeWrite func(account string)
}

// expirySkew: a token this close to its expiry is no longer handed out.
const expirySkew = time.Second

// Source hands out access tokens for accounts. See the package documentation.
type Source struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics.Metrics
	now     func() time.Time
	entries sync.Map // account -> *entry
	size    atomic.Int64
	// recheckBefore (unix ns): cached tokens checked before it are re-read from the
	// store in the background, because invalidations may have been missed then.
	recheckBefore atomic.Int64
	// lastStoreError (unix ns, real time) is when a store operation last failed.
	lastStoreError atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type entry struct {
	account string
	state   atomic.Pointer[cached]
	// lastGood is the last token published, kept when state is dropped by an
	// invalidation: it is served only if the store cannot be read to replace it.
	lastGood atomic.Pointer[cached]
	// selfNotes counts this Source's own invalidations still to come back through
	// the subscription; they are skipped (the state is already current).
	selfNotes atomic.Int32
	lastUsed  atomic.Int64 // unix seconds, for eviction

	mu        sync.Mutex
	flight    *flight
	failures  int       // consecutive token-endpoint failures, guarded by mu
	notBefore time.Time // no token-endpoint call before this (backoff), guarded by mu
	// notBeforeExpired: the same once no valid token is left to serve (a shorter
	// backoff), guarded by mu
	notBeforeExpired time.Time

	pmu     sync.Mutex
	pending *pendingWrite // a rotated refresh token the store has not taken yet
}

// cached is an immutable snapshot of what the Source knows about an account.
type cached struct {
	cred       *Credential
	rec        Record    // the record's times and trigger (no secrets are read from it)
	freshUntil time.Time // before: serve without refreshing
	validUntil time.Time // before: serve, refreshing ahead in the background
	err        error     // a remembered failure (reauth, no token)
	errUntil   time.Time
	retryAt    time.Time // no background refresh before this (backoff)
	checkedAt  time.Time
}

type flight struct {
	done chan struct{}
	cred *Credential
	err  error
}

// NewSource builds a Source. Call Run to start its background work and Close to stop it.
func NewSource(cfg Config) *Source {
	if cfg.Locker == nil {
		cfg.Locker = NopLocker()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.RefreshAhead, 5*time.Minute)
	cfg.RefreshAhead = max(cfg.RefreshAhead, 0)
	def(&cfg.RefreshTimeout, 20*time.Second)
	def(&cfg.ReauthBackoff, 5*time.Minute)
	def(&cfg.RetryBase, time.Second)
	def(&cfg.RetryMax, time.Minute)
	def(&cfg.RetryMaxExpired, 15*time.Second)
	cfg.RetryMaxExpired = min(cfg.RetryMaxExpired, cfg.RetryMax)
	def(&cfg.RecheckAfter, time.Minute)
	def(&cfg.ScanInterval, time.Minute)
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10000
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Source{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, now: cfg.Now, ctx: ctx, cancel: cancel}
}

// Run starts the background work (invalidation subscription, account gauges) and
// returns at once.
func (s *Source) Run() {
	if s.cfg.Notifier != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for s.ctx.Err() == nil {
				err := s.cfg.Notifier.Subscribe(s.ctx, s.forget)
				if s.ctx.Err() != nil {
					return
				}
				s.log.Warn("invalidation subscription ended; retrying", "error", err)
				s.sleep(time.Second)
				// Messages may have been lost meanwhile: every cached token is re-read
				// from the store at its next use (and still served while that runs),
				// and our own lost messages are no longer expected back.
				s.recheckBefore.Store(s.now().UnixNano())
				s.entries.Range(func(_, v any) bool {
					v.(*entry).selfNotes.Store(0)
					return true
				})
			}
		}()
	}
	if s.cfg.ScanInterval > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			t := time.NewTicker(s.cfg.ScanInterval)
			defer t.Stop()
			for {
				s.ScanAccounts(s.ctx)
				select {
				case <-s.ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
}

// Close stops the background work (subscription, gauges, retries of pending writes)
// and waits for it; refreshes in flight run to their end (at most RefreshTimeout), so
// a rotated refresh token is stored, not dropped.
func (s *Source) Close() {
	s.cancel()
	s.wg.Wait()
}

func (s *Source) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
	case <-t.C:
	}
}

func (s *Source) entry(account string) *entry {
	if v, ok := s.entries.Load(account); ok {
		return v.(*entry)
	}
	e := &entry{account: account}
	e.lastUsed.Store(s.now().Unix())
	v, loaded := s.entries.LoadOrStore(account, e)
	if !loaded && s.size.Add(1) > int64(s.cfg.CacheSize) {
		s.evict(account)
	}
	return v.(*entry)
}

// evict drops the least recently used of a few sampled entries (an approximate LRU,
// as Redis does it): O(1) per insertion, and the cache cannot grow without bound.
func (s *Source) evict(keep string) {
	var victim *entry
	n := 0
	s.entries.Range(func(_, v any) bool {
		e := v.(*entry)
		if e.account != keep && (victim == nil || e.lastUsed.Load() < victim.lastUsed.Load()) {
			victim = e
		}
		n++
		return n < 8
	})
	if victim != nil && s.entries.CompareAndDelete(victim.account, victim) {
		s.size.Add(-1)
	}
}

// Cached is the number of accounts held in the in-process cache (at most CacheSize,
// give or take the entries being inserted concurrently).
func (s *Source) Cached() int { return int(s.size.Load()) }

// forget drops the cached state of an account: its record changed (an admin write or
// delete, or a peer's refresh), so the next request reads the store. The Source's own
// messages, coming back, are skipped.
func (s *Source) forget(account string) {
	v, ok := s.entries.Load(account)
	if !ok {
		return
	}
	e := v.(*entry)
	for {
		n := e.selfNotes.Load()
		if n <= 0 {
			break
		}
		if e.selfNotes.CompareAndSwap(n, n-1) {
			return
		}
	}
	e.state.Store(nil)
}

// Token returns a valid access token for account. In the steady state it answers
// from memory: no store access, no lock, no allocation.
func (s *Source) Token(ctx context.Context, account string) (*Credential, error) {
	e := s.entry(account)
	now := s.now()
	if sec := now.Unix(); e.lastUsed.Load() != sec {
		e.lastUsed.Store(sec)
	}
	if c := e.state.Load(); c != nil {
		if c.err == nil {
			if now.Before(c.freshUntil) {
				if (now.Sub(c.checkedAt) > s.cfg.RecheckAfter || c.checkedAt.UnixNano() < s.recheckBefore.Load()) && now.After(c.retryAt) {
					s.background(e, c, "")
				}
				return c.cred, nil
			}
			if now.Before(c.validUntil) {
				if now.After(c.retryAt) {
					s.background(e, c, metrics.TriggerAhead)
				}
				return c.cred, nil
			}
		} else if s.errValid(c, now) {
			return nil, c.err
		}
	}
	return s.join(ctx, e, want{trigger: metrics.TriggerExpired})
}

// errValid reports whether a remembered error still answers requests: for at most
// errRecheck, and not across a lost invalidation subscription.
func (s *Source) errValid(c *cached, now time.Time) bool {
	return now.Before(c.errUntil) && c.checkedAt.UnixNano() >= s.recheckBefore.Load()
}

// Fresh returns a token with at least RefreshAhead left, refreshing now if needed
// (counted with trigger "admin"). The admin API hands it to front ends.
func (s *Source) Fresh(ctx context.Context, account string) (*Credential, error) {
	e := s.entry(account)
	if c := e.state.Load(); c != nil {
		if c.err == nil && s.now().Before(c.freshUntil) {
			return c.cred, nil
		}
		if c.err != nil && s.errValid(c, s.now()) {
			return nil, c.err
		}
	}
	// When the token endpoint fails, the flight falls back to the current token while
	// it is valid, so this may have less than RefreshAhead left.
	return s.join(ctx, e, want{trigger: metrics.TriggerAdmin})
}

// Invalidate is called when Spotify's 401 to usedToken arrived at rejectedAt. If
// usedToken is still the current token, the account is re-read: a stored token whose
// refresh began after rejectedAt (so Spotify issued it after whatever made it reject
// ours), or that a peer refreshed because of a 401 too, is taken. Anything else may
// have died in the same revocation (it kills every token of the moment), including a
// token refreshed while our request was in flight, so the account is refreshed. A
// newer cached token is taken on the same terms.
func (s *Source) Invalidate(ctx context.Context, account, usedToken string, rejectedAt time.Time) (*Credential, error) {
	e := s.entry(account)
	w := want{trigger: metrics.TriggerUnauthorized, bad: usedToken, since: rejectedAt}
	if c := e.state.Load(); c != nil && c.err == nil && s.now().Before(c.validUntil) && s.satisfies(c.rec, w) {
		return c.cred, nil
	}
	return s.join(ctx, e, w)
}

// want is what a flight has to produce.
type want struct {
	trigger string    // metrics trigger; "" for a background re-check of the store
	bad     string    // the token Spotify answered 401 to
	since   time.Time // with bad: when Spotify's 401 arrived
}

// background starts a refresh (trigger non-empty) or a store re-check without
// making the caller wait.
func (s *Source) background(e *entry, c *cached, trigger string) {
	e.mu.Lock()
	if e.flight != nil || e.state.Load() != c {
		e.mu.Unlock()
		return
	}
	f := &flight{done: make(chan struct{})}
	e.flight = f
	e.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.fly(e, f, want{trigger: trigger})
	}()
}

// join makes the caller wait for the account's flight, starting one if none runs.
func (s *Source) join(ctx context.Context, e *entry, w want) (*Credential, error) {
	for round := 0; ; round++ {
		e.mu.Lock()
		f := e.flight
		joined := f != nil
		if !joined {
			f = &flight{done: make(chan struct{})}
			e.flight = f
			e.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.fly(e, f, w)
			}()
		} else {
			e.mu.Unlock()
			s.m.Race(metrics.RaceCoalesced)
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		// A flight started for another reason (a background re-check, a refresh-ahead
		// that fell back to the old token, or one that got its token before the
		// revocation behind this caller's 401) may hand back a token this caller must
		// not use: wait for one flight of its own.
		if joined && round == 0 && f.err == nil && w.bad != "" && !s.answers(f.cred, w) {
			continue
		}
		return f.cred, f.err
	}
}

// answers tells whether cred, handed back by a flight this caller joined, serves a
// caller whose token got a 401: not that token and, after a 401, trusted as satisfies
// would trust its record.
func (s *Source) answers(cred *Credential, w want) bool {
	if cred.AccessToken == w.bad {
		return false
	}
	return w.trigger != metrics.TriggerUnauthorized || trustedAfter401(cred.refreshedAt, cred.trigger, w)
}

// trustedAfter401 tells whether a token refreshed at refreshedAt because of trigger
// outlives the revocation behind w's 401: its refresh began after the 401 arrived, or
// a peer refreshed it because of a 401 too (after the same revocation). One refreshed
// earlier for another reason may have died with ours, even while our request was in
// flight.
func trustedAfter401(refreshedAt time.Time, trigger string, w want) bool {
	return refreshedAt.After(w.since) || trigger == metrics.TriggerUnauthorized
}

// fly runs one flight. It is detached from the callers' contexts: a caller that gives
// up does not cancel a refresh others wait for.
func (s *Source) fly(e *entry, f *flight, w want) {
	// Not cancelled by Close: a token call cut off after Spotify rotated the refresh
	// token would lose the account. RefreshTimeout bounds it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), s.cfg.RefreshTimeout)
	defer cancel()
	cred, err := s.obtain(ctx, e, w)
	f.cred, f.err = cred, err
	e.mu.Lock()
	e.flight = nil
	e.mu.Unlock()
	close(f.done)
}

// usable reports whether rec holds a token worth handing out instead of refreshing:
// not the token Spotify rejected (bad), valid, and (when fresh is asked) outside the
// ahead window.
func (s *Source) usable(rec Record, bad string, fresh bool) bool {
	if rec.Status != StatusOK || rec.AccessToken == "" || rec.AccessToken == bad {
		return false
	}
	limit := expirySkew
	if fresh {
		limit = max(s.ahead(rec), expirySkew)
	}
	return s.now().Add(limit).Before(rec.Expiry)
}

// tooSoon reports whether a 401 for bad must not cause a refresh: rec, as stored, holds
// bad, obtained because of a 401 less than UnauthorizedRefreshInterval ago. A storm
// of 401s (an endpoint that rejects every token) then costs one token call per
// interval, not one per request. A token obtained for any other reason (ahead,
// expired, delivered) is refreshed after its first 401, whatever its age.
func (s *Source) tooSoon(rec Record, bad string) bool {
	floor := s.cfg.UnauthorizedRefreshInterval
	return floor > 0 && bad != "" && rec.AccessToken == bad && rec.RefreshTrigger == metrics.TriggerUnauthorized &&
		!rec.RefreshedAt.IsZero() && s.now().Before(rec.RefreshedAt.Add(floor))
}

// satisfies reports whether a stored record answers w without a refresh.
func (s *Source) satisfies(rec Record, w want) bool {
	if w.trigger == metrics.TriggerUnauthorized {
		return s.usable(rec, w.bad, false) && trustedAfter401(rec.RefreshedAt, rec.RefreshTrigger, w)
	}
	return s.usable(rec, w.bad, true)
}

// ahead is the refresh-ahead window for rec's token: RefreshAhead, at most half the
// token's lifetime when that is known.
func (s *Source) ahead(rec Record) time.Duration {
	a := s.cfg.RefreshAhead
	if !rec.RefreshedAt.IsZero() {
		if half := rec.Expiry.Sub(rec.RefreshedAt) / 2; half > 0 && a > half {
			a = half
		}
	}
	return a
}

func (s *Source) publish(e *entry, rec Record) *Credential {
	now := s.now()
	cred := NewCredential(rec.AccessToken, rec.Expiry, rec.Scope)
	cred.refreshedAt, cred.trigger = rec.RefreshedAt, rec.RefreshTrigger
	meta := Record{Account: rec.Account, AccessToken: rec.AccessToken, Expiry: rec.Expiry, RefreshedAt: rec.RefreshedAt,
		RefreshTrigger: rec.RefreshTrigger, Status: rec.Status}
	c := &cached{
		cred: cred, rec: meta, freshUntil: rec.Expiry.Add(-max(s.ahead(rec), expirySkew)), validUntil: rec.Expiry.Add(-expirySkew),
		checkedAt: now,
	}
	e.state.Store(c)
	e.lastGood.Store(c)
	return cred
}

// Timings of the failure paths.
const (
	// errRecheck: a remembered error answers requests at most this long; then the
	// store is read again (a peer may have repaired the account). The token endpoint
	// keeps its own, longer backoff.
	errRecheck = 2 * time.Second
	// storeRetry: Retry-After while the store does not answer.
	storeRetry = time.Second
	// peerRetry: how soon a caller that timed out waiting for a peer's refresh tries
	// again (the peer's token is likely stored by then).
	peerRetry = 250 * time.Millisecond
	// pendingRetry: how often a rotated refresh token the store did not take is
	// written again.
	// It is short: after the store recovers, a peer may take the lock and refresh
	// with the dead stored token before the live one is written.
	pendingRetry = 20 * time.Millisecond
	// peerGrace: with a shared store, how long an invalid_grant waits for a peer that
	// may hold the rotated successor in memory (its write failed) to store it.
	// It covers a Redis client's reconnection after an outage (go-redis retries a
	// failed dial once a second).
	peerGrace = 1500 * time.Millisecond
	// storeRecovery: for this long after a store error, refreshes give peers'
	// pending writes peerGrace first (their clients may reconnect later than ours).
	storeRecovery = 10 * time.Second
	// lockWaitedLong: a lock wait longer than this means a peer held the lock.
	lockWaitedLong = 20 * time.Millisecond
)

func (s *Source) remember(e *entry, err error, until time.Time) {
	now := s.now()
	if limit := now.Add(errRecheck); until.After(limit) {
		until = limit
	}
	e.state.Store(&cached{err: err, errUntil: until, checkedAt: now})
}

// obtain is the body of a flight: store read, lock, re-read, refresh, conditional write.
func (s *Source) obtain(ctx context.Context, e *entry, w want) (cred *Credential, err error) {
	prev := e.state.Load()
	if prev == nil {
		prev = e.lastGood.Load()
	}
	if err := s.flush(ctx, e); err != nil {
		return s.unavailable(e, prev, w.bad, fmt.Errorf("storing a rotated refresh token: %w", err), storeRetry)
	}
	rec, err := s.cfg.Store.Get(ctx, e.account)
	switch {
	case errors.Is(err, ErrNotFound):
		if e.account != s.cfg.AppAccount {
			s.remember(e, ErrNoToken, s.now().Add(time.Second))
			return nil, ErrNoToken
		}
		rec = Record{Account: e.account, ClientCredentials: true, Status: StatusOK}
	case err != nil:
		s.storeError(metrics.OpRead)
		if errors.Is(err, ErrCorrupt) {
			// Not used, never overwritten: an operator has to look at it.
			s.log.Error("stored record refused; it is left as it is", "account", e.account, "error", err)
		}
		return s.unavailable(e, prev, w.bad, fmt.Errorf("reading the store: %w", err), storeRetry)
	}
	if w.trigger == "" { // a background re-check: take what the store has
		if s.usable(rec, "", false) {
			return s.publish(e, rec), nil
		}
		w.trigger = metrics.TriggerExpired
	}
	if s.satisfies(rec, w) {
		return s.publish(e, rec), nil
	}
	if w.trigger == metrics.TriggerUnauthorized && s.tooSoon(rec, w.bad) {
		return nil, fmt.Errorf("%w (account %q, refreshed %s ago)", ErrRefreshTooSoon, e.account, s.now().Sub(rec.RefreshedAt).Round(time.Millisecond))
	}
	if w.trigger == metrics.TriggerUnauthorized && s.usable(rec, w.bad, false) {
		// The stored token may have died with the rejected one, so the account is
		// refreshed. If no refresh can be had now, though, a retry with it may still
		// work where an error certainly fails the caller.
		fallback := rec
		defer func() {
			if _, ok := errors.AsType[*UnavailableError](err); ok {
				cred, err = s.publish(e, fallback), nil
			}
		}()
	}
	if rec.Status == StatusReauthRequired && s.now().Before(rec.ReauthAt.Add(s.cfg.ReauthBackoff)) {
		s.remember(e, ErrReauthRequired, rec.ReauthAt.Add(s.cfg.ReauthBackoff))
		return nil, ErrReauthRequired
	}
	if !rec.ClientCredentials && rec.RefreshToken == "" {
		s.remember(e, ErrNoToken, s.now().Add(time.Second))
		return nil, ErrNoToken
	}
	e.mu.Lock()
	until := e.notBefore
	if !s.servable(prev, w.bad) {
		// The token ran out during a long backoff: callers get errors now, so the
		// shorter backoff applies.
		until = e.notBeforeExpired
	}
	wait, failures := until.Sub(s.now()), e.failures
	e.mu.Unlock()
	if wait > 0 {
		return s.unavailable(e, prev, w.bad, fmt.Errorf("the token endpoint failed %d times; next try in %s", failures, wait.Round(time.Millisecond)), wait)
	}

	start := time.Now() // lock waits are real time, whatever the injected clock
	lease, err := s.cfg.Locker.Lock(ctx, e.account)
	waited := time.Since(start)
	s.m.LockWaited(waited)
	if err != nil {
		if !errors.Is(err, ErrLockTimeout) {
			s.storeError(metrics.OpLock)
		}
		// A peer holds the lock for long (or the store fails): use what is stored if
		// it is still valid.
		if r2, err2 := s.cfg.Store.Get(ctx, e.account); err2 == nil && s.usable(r2, w.bad, false) {
			s.m.Race(metrics.RaceLockTimeout)
			return s.publish(e, r2), nil
		}
		if errors.Is(err, ErrLockTimeout) {
			// A peer is still refreshing: not a failure of ours. Come back soon.
			return s.unavailable(e, prev, w.bad, err, peerRetry)
		}
		return s.unavailable(e, prev, w.bad, fmt.Errorf("refresh lock: %w", err), storeRetry)
	}
	defer func() { _ = lease.Release(context.WithoutCancel(ctx)) }()

	// A peer may have refreshed while we waited for the lock.
	r2, err := s.cfg.Store.Get(ctx, e.account)
	if err == nil && r2.Version == rec.Version && s.cfg.Notifier != nil &&
		(waited > lockWaitedLong || time.Since(time.Unix(0, s.lastStoreError.Load())) < storeRecovery) {
		// We waited for a peer that left no result, or the store was failing a moment
		// ago: a peer may hold a rotated refresh token in memory (its write failed)
		// and be about to write it. Refreshing with the stored token now could be
		// refreshing with a dead one, so give that write a moment.
		s.sleep(peerGrace)
		r2, err = s.cfg.Store.Get(ctx, e.account)
	}
	switch {
	case err == nil:
		// A peer wrote while we waited for the lock. After a 401 its token is taken on
		// satisfies' terms: one it got before the 401 arrived may have died with ours.
		taken := s.usable(r2, w.bad, false)
		if w.trigger == metrics.TriggerUnauthorized {
			taken = s.satisfies(r2, w)
		}
		if r2.Version != rec.Version && taken {
			s.m.Race(metrics.RacePeerRefreshed)
			return s.publish(e, r2), nil
		}
		rec = r2
	case errors.Is(err, ErrNotFound):
		if !rec.ClientCredentials {
			s.remember(e, ErrNoToken, s.now().Add(time.Second))
			return nil, ErrNoToken
		}
		rec.Version = 0
	default:
		s.storeError(metrics.OpRead)
		return s.unavailable(e, prev, w.bad, fmt.Errorf("reading the store: %w", err), storeRetry)
	}
	return s.refresh(ctx, e, rec, lease, w, prev)
}

func (s *Source) refresh(ctx context.Context, e *entry, rec Record, lease Lease, w want, prev *cached) (*Credential, error) {
	// A lease lost during the call does not cancel it: a rotated refresh token must
	// not be thrown away, and the conditional write decides whether it may be stored.
	start := s.now()
	var tok Token
	var err error
	if rec.ClientCredentials {
		tok, err = s.cfg.Refresher.ClientCredentials(ctx)
	} else {
		tok, err = s.cfg.Refresher.Refresh(ctx, rec.RefreshToken)
	}
	took := s.now().Sub(start)
	switch {
	case errors.Is(err, ErrInvalidGrant):
		s.m.Refresh(w.trigger, metrics.ResultInvalidGrant, took)
		return s.invalidGrant(ctx, e, rec, lease, w, err)
	case err != nil:
		s.m.Refresh(w.trigger, metrics.ResultError, took)
		s.log.Warn("token refresh failed", "account", e.account, "trigger", w.trigger, "error", err)
		return s.unavailable(e, prev, w.bad, err, s.failed(e, s.servable(prev, w.bad)))
	}
	s.m.Refresh(w.trigger, metrics.ResultSuccess, took)
	e.mu.Lock()
	e.failures, e.notBefore, e.notBeforeExpired = 0, time.Time{}, time.Time{}
	e.mu.Unlock()

	now := s.now()
	next := rec
	// RefreshedAt is when the call began: the token was issued after that moment.
	next.AccessToken, next.Expiry, next.RefreshedAt, next.Status, next.ReauthAt = tok.AccessToken, tok.Expiry, start, StatusOK, time.Time{}
	next.RefreshTrigger = w.trigger
	if tok.Scope != "" {
		next.Scope = tok.Scope
	}
	rotated := tok.RefreshToken != "" && tok.RefreshToken != rec.RefreshToken
	if rotated {
		next.RefreshToken, next.ObtainedAt = tok.RefreshToken, now
	}
	if s.cfg.BeforeWrite != nil {
		s.cfg.BeforeWrite(e.account)
	}
	select {
	case <-lease.Lost():
		s.log.Warn("refresh lock lost during the token call; the write is conditional", "account", e.account)
	default:
	}
	return s.write(ctx, e, rec, next, rotated)
}

// failed counts a token-endpoint failure and returns the backoff before the next
// call: exponential from RetryBase, with jitter in [b/2, b], capped at RetryMax while
// a valid token is still served and at RetryMaxExpired when callers get errors, so
// they get tokens again soon after the token endpoint recovers.
func (s *Source) failed(e *entry, serving bool) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failures++
	jitter := func(b time.Duration) time.Duration { return b/2 + rand.N(b/2+1) }
	exp := s.cfg.RetryBase << min(e.failures-1, 16)
	now := s.now()
	long, short := jitter(min(exp, s.cfg.RetryMax)), jitter(min(exp, s.cfg.RetryMaxExpired))
	e.notBefore, e.notBeforeExpired = now.Add(long), now.Add(min(short, long))
	if serving {
		return long
	}
	return min(short, long)
}

// write stores next conditionally on the version of read. A rejected write is
// discarded unless the stored record still holds the refresh token we used and we
// hold its rotated successor: then the stored token is dead and ours is the only live
// one, so it is written over the newer version (a peer that lost the race marked the
// account reauth_required with the dead token).
func (s *Source) write(ctx context.Context, e *entry, read, next Record, rotated bool) (*Credential, error) {
	for attempt := 0; ; attempt++ {
		stored, err := s.cfg.Store.Put(ctx, next, read.Version)
		if err == nil {
			cred := s.publish(e, stored)
			// Peers drop their copy and read this one at their next request: a peer
			// waiting out an error, or holding a token about to be rejected, moves on.
			s.notifyFrom(ctx, e)
			return cred, nil
		}
		if !errors.Is(err, ErrVersionConflict) {
			s.storeError(metrics.OpWrite)
			if rotated {
				s.keepPending(e, read, next)
			}
			s.log.Error("storing the refreshed token failed; serving it from memory", "account", e.account, "error", err)
			return s.publish(e, next), nil
		}
		cur, gerr := s.cfg.Store.Get(ctx, e.account)
		if gerr == nil && rotated && attempt < 3 && cur.RefreshToken == read.RefreshToken {
			read = cur
			next.Version = cur.Version
			next.AuthorizedAt = cur.AuthorizedAt
			continue
		}
		s.m.Race(metrics.RaceStaleWriteRejected)
		s.log.Warn("refresh result discarded: the record changed meanwhile", "account", e.account)
		if gerr == nil && s.usable(cur, "", false) {
			return s.publish(e, cur), nil
		}
		return s.publish(e, next), nil
	}
}

// keepPending remembers a rotated refresh token the store did not take and writes it
// again every pendingRetry until the store takes it: it is the only live copy and
// must never be dropped. Every flight of the account flushes it first, so no refresh
// of this replica uses the dead stored token.
func (s *Source) keepPending(e *entry, read, next Record) {
	e.pmu.Lock()
	e.pending = &pendingWrite{read: read, next: next}
	e.pmu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			s.sleep(pendingRetry)
			if s.ctx.Err() != nil {
				s.log.Error("shutting down with a rotated refresh token not yet stored", "account", e.account)
				return
			}
			ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RefreshTimeout)
			err := s.flush(ctx, e)
			cancel()
			if err == nil {
				return
			}
		}
	}()
}

type pendingWrite struct{ read, next Record }

// flush writes the account's pending record, if any. It returns nil when nothing is
// pending any more (written, superseded by a record with another refresh token, or
// the account was deleted).
func (s *Source) flush(ctx context.Context, e *entry) error {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	p := e.pending
	for p != nil {
		_, err := s.cfg.Store.Put(ctx, p.next, p.read.Version)
		if err == nil {
			s.log.Info("pending rotated refresh token stored", "account", e.account)
			e.pending = nil
			// Peers may have cached a reauth_required state for the dead token.
			s.notifyFrom(ctx, e)
			return nil
		}
		if !errors.Is(err, ErrVersionConflict) {
			s.storeError(metrics.OpWrite)
			return err
		}
		cur, gerr := s.cfg.Store.Get(ctx, e.account)
		if errors.Is(gerr, ErrNotFound) {
			s.log.Warn("pending refresh token dropped: the account was deleted", "account", e.account)
			e.pending = nil
			return nil
		}
		if gerr != nil {
			s.storeError(metrics.OpRead)
			return gerr
		}
		if cur.RefreshToken != p.read.RefreshToken {
			s.log.Warn("pending refresh token superseded by a newer record", "account", e.account)
			e.pending = nil
			return nil
		}
		p.read, p.next.Version = cur, cur.Version
	}
	return nil
}

// invalidGrant handles a rejected refresh token. A peer may have rotated it: the
// store is read again (with a shared store, once more after peerGrace, for a peer
// whose write of the successor is pending), and only a token nobody replaced marks
// the account reauth_required.
func (s *Source) invalidGrant(ctx context.Context, e *entry, rec Record, lease Lease, w want, cause error) (*Credential, error) {
	rotatedByPeer := func(cur Record) bool { return cur.RefreshToken != rec.RefreshToken && cur.Status == StatusOK }
	recover := func(cur Record) (*Credential, error) {
		s.m.Race(metrics.RaceInvalidGrantRecovered)
		if s.usable(cur, w.bad, false) {
			return s.publish(e, cur), nil
		}
		return s.refresh(ctx, e, cur, lease, want{trigger: metrics.TriggerExpired, bad: w.bad, since: w.since}, nil)
	}
	cur, err := s.cfg.Store.Get(ctx, e.account)
	if err == nil && rotatedByPeer(cur) {
		return recover(cur)
	}
	if err == nil && s.cfg.Notifier != nil {
		s.sleep(peerGrace)
		if cur, err = s.cfg.Store.Get(ctx, e.account); err == nil && rotatedByPeer(cur) {
			return recover(cur)
		}
	}
	now := s.now()
	s.log.Warn("refresh token rejected; account needs re-authorisation", "account", e.account, "error", cause)
	if err == nil && cur.RefreshToken == rec.RefreshToken && cur.Status == StatusOK {
		marked := cur
		marked.Status, marked.ReauthAt = StatusReauthRequired, now
		_, err := s.cfg.Store.Put(ctx, marked, cur.Version)
		switch {
		case errors.Is(err, ErrVersionConflict):
			if cur, err := s.cfg.Store.Get(ctx, e.account); err == nil && rotatedByPeer(cur) {
				return recover(cur)
			}
		case err != nil:
			s.storeError(metrics.OpWrite)
		}
	}
	s.remember(e, ErrReauthRequired, now.Add(s.cfg.ReauthBackoff))
	return nil, ErrReauthRequired
}

// unavailable answers when no new token could be had now: the previous token while it
// is valid (no background refresh before retry), else UnavailableError with
// Retry-After retry, remembered for at most errRecheck.
func (s *Source) unavailable(e *entry, prev *cached, bad string, cause error, retry time.Duration) (*Credential, error) {
	now := s.now()
	if s.servable(prev, bad) {
		c := *prev
		c.retryAt = now.Add(retry)
		e.state.Store(&c)
		return c.cred, nil
	}
	err := &UnavailableError{RetryAfter: retry, Err: cause}
	s.remember(e, err, now.Add(retry))
	return nil, err
}

// servable tells whether unavailable would answer with the previous token.
func (s *Source) servable(prev *cached, bad string) bool {
	return prev != nil && prev.err == nil && prev.cred.AccessToken != bad && s.now().Before(prev.validUntil)
}

// storeError counts a failed store operation and notes when it happened.
func (s *Source) storeError(op string) {
	s.lastStoreError.Store(time.Now().UnixNano())
	s.m.StoreError(op)
}

// notifyFrom publishes an invalidation of e's account that this Source skips when it
// comes back (its own state is current).
func (s *Source) notifyFrom(ctx context.Context, e *entry) {
	if s.cfg.Notifier == nil {
		return
	}
	e.selfNotes.Add(1)
	if err := s.cfg.Notifier.Publish(ctx, e.account); err != nil {
		e.selfNotes.Add(-1)
		s.log.Warn("publishing an invalidation failed", "account", e.account, "error", err)
	}
}
