package tokenstore

import (
	"context"
	"log/slog"
	"time"
)

// Config configures a Source. Store and Refresher are required.
type Config struct {
	// Store keeps the records. A store several replicas use at once implements
	// SharedStore; the Source then coordinates with its peers (see SharedStore).
	Store     Store
	Refresher Refresher
	Locker    Locker   // default NopLocker (single instance)
	Notifier  Notifier // optional: cross-replica cache invalidation
	// Metrics receives the Source's counts (*metrics.Metrics implements Observer).
	Metrics Observer
	// Status is told when an account becomes reauth_required or ok again (optional).
	Status StatusListener
	// Tracing records refreshes as spans (optional; see Tracing).
	Tracing Tracing
	Logger  *slog.Logger
	Now     func() time.Time // the clock tokens are judged by (default time.Now)

	AppAccount string // the client-credentials account
	// RefreshAhead: refresh in the background when less than this is left (default 5m;
	// negative, e.g. NeverAhead: never ahead, only at expiry). It is capped at half a
	// token's lifetime, so a token shorter-lived than the window is refreshed once, not
	// on every request. RefreshAheadSetting maps an operator's setting, where 0 means
	// "at expiry only", to this field.
	RefreshAhead time.Duration
	// RefreshTimeout bounds one flight: the lock wait, the token call and the writes
	// (default 20s). RefreshTimeoutFor derives it from a deployment's lock TTL and
	// token-call timeout.
	RefreshTimeout time.Duration
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
	// account (0: no floor). Within it, a 401 for a token that was itself obtained
	// because of a 401 is not answered with another refresh: Invalidate returns
	// ErrRefreshTooSoon. The stored record's refresh time and cause decide, so every
	// replica keeps the same floor (see trust.go).
	UnauthorizedRefreshInterval time.Duration

	// ValidateEvery turns on background validation (0: off; validate.go): an account
	// whose refresh token has not been used or obtained within it (Record.RefreshedAt,
	// ObtainedAt) is refreshed through the refresh protocol, so a revoked grant turns
	// reauth_required before a request finds out. On a store that implements
	// ValidationClaimer one Source at a time validates.
	ValidateEvery time.Duration
	// ValidatePace is the least time between two validation refreshes (default 1s): a
	// pass over N stale accounts takes at least N×ValidatePace.
	ValidatePace time.Duration
	// RefreshTokenLifetime is how long a user's refresh token lives after they
	// authorised the app (0: no limit); an ok account whose lifetime ends within
	// ExpiryWarning (or has ended) counts as expiring in the account gauges.
	RefreshTokenLifetime, ExpiryWarning time.Duration

	// validateSleep, when set, replaces the validator's real-time waits: tests move a
	// manual clock with it (export_test.go).
	validateSleep func(ctx context.Context, d time.Duration) bool

	// beforeWrite, when set, is called after a refresh succeeded and before its
	// conditional write. Tests set it (export_test.go) to pause a lock holder.
	beforeWrite func(account string)
}

// NeverAhead as Config.RefreshAhead: tokens are refreshed at expiry only.
const NeverAhead time.Duration = -1

// RefreshAheadSetting maps an operator's refresh-ahead setting, where 0 means "refresh
// at expiry only", to Config.RefreshAhead, whose zero value means the default.
func RefreshAheadSetting(d time.Duration) time.Duration {
	if d == 0 {
		return NeverAhead
	}
	return d
}

// RefreshTimeoutFor is the RefreshTimeout of a deployment whose refresh lock lives
// lockTTL (waiters wait up to LockWaitFor(lockTTL) for it) and whose token calls
// take up to tokenCall: the lock wait, the token call, and 10s for the store's reads
// and writes.
func RefreshTimeoutFor(lockTTL, tokenCall time.Duration) time.Duration {
	return LockWaitFor(lockTTL) + tokenCall + 10*time.Second
}

// LockWaitFor is how long a RedisLocker with lock TTL ttl waits for a lock another
// replica holds, by default: 3×ttl.
func LockWaitFor(ttl time.Duration) time.Duration { return 3 * ttl }

// withDefaults fills in the defaults documented at Config.
func (cfg Config) withDefaults() Config {
	if cfg.Locker == nil {
		cfg.Locker = NopLocker()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopObserver{}
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
	def(&cfg.ValidatePace, time.Second)
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10000
	}
	return cfg
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
	// written again. It is short: after the store recovers, a peer may take the lock
	// and refresh with the dead stored token before the live one is written.
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
	// noTokenMemory: how long ErrNoToken answers an account before the store is read again.
	noTokenMemory = time.Second
)
