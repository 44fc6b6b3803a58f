package tokenstore

import (
	"context"
	"log/slog"
	"time"
)

// Source hands out access tokens for accounts. It is a composition: the per-account
// cache (cache.go) answers the request path from memory; a miss, an expiry or a 401
// starts the account's single flight (flight.go), whose body is the refresh protocol
// (refresh.go), judged by the freshness windows (freshness.go), the 401 rule
// (trust.go) and the backoff (backoff.go); rotated tokens the store did not take
// wait in pending.go; peers are told of changes through invalidations.go. Account
// management and the account gauges are in accounts.go and gauges.go, background
// validation in validate.go. See the package documentation.
type Source struct {
	cfg   Config
	log   *slog.Logger
	obs   Observer
	clk   clock
	fresh freshness
	cache *cache
	inval *invalidations
	proto *protocol
	life  *lifecycle
	tr    *tracer // nil: not traced

	accounts  *accounts
	gauges    *gauges
	validator *validator // nil: no background validation
}

// NewSource builds a Source. Call Run to start its background work and Close to stop it.
func NewSource(cfg Config) *Source {
	cfg = cfg.withDefaults()
	clk := newClock(cfg.Now)
	life := newLifecycle()
	c := &cache{limit: cfg.CacheSize}
	inval := &invalidations{n: cfg.Notifier, cache: c, log: cfg.Logger}
	health := &storeHealth{obs: cfg.Metrics, clk: clk}
	fresh := freshness{ahead: cfg.RefreshAhead}
	sharedStore, shared := cfg.Store.(SharedStore)
	tr := newTracer(cfg.Tracing)
	s := &Source{
		cfg: cfg, log: cfg.Logger, obs: cfg.Metrics, clk: clk, fresh: fresh, cache: c, inval: inval, life: life, tr: tr,
		proto: &protocol{
			store: cfg.Store, locker: cfg.Locker, tokens: cfg.Refresher, obs: cfg.Metrics, status: cfg.Status, log: cfg.Logger, clk: clk, tr: tr,
			stop: life.ctx, shared: shared, health: health, fresh: fresh,
			backoff:    newBackoffPolicy(cfg.RetryBase, cfg.RetryMax, cfg.RetryMaxExpired),
			floor:      floor(cfg.UnauthorizedRefreshInterval),
			appAccount: cfg.AppAccount, reauthBackoff: cfg.ReauthBackoff, beforeWrite: cfg.beforeWrite,
			pending: &pendingWrites{
				store: cfg.Store, health: health, inval: inval, log: cfg.Logger, life: life, clk: clk, timeout: cfg.RefreshTimeout,
			},
		},
	}
	s.accounts = &accounts{store: cfg.Store, health: health, clk: clk, changed: s.changed, status: cfg.Status}
	s.gauges = &gauges{store: cfg.Store, shared: sharedStore, health: health, obs: cfg.Metrics, log: cfg.Logger, clk: clk,
		interval: cfg.ScanInterval, lifetime: cfg.RefreshTokenLifetime, warning: cfg.ExpiryWarning}
	if cfg.ValidateEvery > 0 {
		s.validator = newValidator(s, health)
	}
	return s
}

// Run starts the background work (invalidation subscription, account gauges,
// validation) and returns at once.
func (s *Source) Run() {
	if s.cfg.Notifier != nil {
		s.life.goroutine(func() { s.inval.subscribe(s.life.ctx, s.clk) })
	}
	if s.cfg.ScanInterval > 0 {
		s.life.goroutine(func() { s.gauges.run(s.life.ctx) })
	}
	if s.validator != nil {
		s.life.goroutine(func() { s.validator.run(s.life.ctx) })
	}
}

// Close stops the background work (subscription, gauges, validation, retries of
// pending writes) and waits for it; refreshes in flight run to their end (at most RefreshTimeout), so
// a rotated refresh token is stored, not dropped.
func (s *Source) Close() {
	s.life.close()
	if s.validator != nil {
		s.validator.release()
	}
}

// Cached is the number of accounts held in the in-process cache (at most CacheSize,
// give or take the entries being inserted concurrently).
func (s *Source) Cached() int { return s.cache.len() }

// Token returns a valid access token for account. In the steady state it answers
// from memory: no store access, no lock, no allocation.
func (s *Source) Token(ctx context.Context, account string) (*Credential, error) {
	now := s.clk.Now()
	e := s.cache.get(account, now)
	touch(e, now)
	if c := e.state.Load(); c != nil {
		if c.err == nil {
			if now.Before(c.freshUntil) {
				if s.cache.stale(c.checkedAt, now, s.cfg.RecheckAfter) && now.After(c.retryAt) {
					s.background(ctx, e, c, CauseNone)
				}
				return c.cred, nil
			}
			if now.Before(c.validUntil) {
				if now.After(c.retryAt) {
					s.background(ctx, e, c, CauseAhead)
				}
				return c.cred, nil
			}
		} else if s.cache.errValid(c, now) {
			return nil, c.err
		}
	}
	return s.join(ctx, e, demand{cause: CauseExpired})
}

// Fresh returns a token with at least RefreshAhead left, refreshing now if needed
// (counted with cause CauseAdmin). The admin API hands it to front ends.
func (s *Source) Fresh(ctx context.Context, account string) (*Credential, error) {
	e := s.cache.get(account, s.clk.Now())
	if c := e.state.Load(); c != nil {
		if c.err == nil && s.clk.Now().Before(c.freshUntil) {
			return c.cred, nil
		}
		if c.err != nil && s.cache.errValid(c, s.clk.Now()) {
			return nil, c.err
		}
	}
	// When the token endpoint fails, the flight falls back to the current token while
	// it is valid, so this may have less than RefreshAhead left.
	return s.join(ctx, e, demand{cause: CauseAdmin})
}

// Invalidate is called when Spotify's 401 to usedToken arrived at rejectedAt. It
// returns a token the 401 rule (trust.go) trusts: a cached or stored one refreshed
// after rejectedAt or itself because of a 401, else a new one from a refresh. Within
// UnauthorizedRefreshInterval of a 401-caused refresh it returns ErrRefreshTooSoon.
func (s *Source) Invalidate(ctx context.Context, account, usedToken string, rejectedAt time.Time) (*Credential, error) {
	now := s.clk.Now()
	e := s.cache.get(account, now)
	d := demand{cause: CauseUnauthorized, rej: rejection{token: usedToken, at: rejectedAt}}
	if c := e.state.Load(); c != nil && c.err == nil && now.Before(c.validUntil) &&
		s.fresh.valid(c.rec, now) && d.rej.mayAnswer(c.rec.AccessToken, provenanceOf(c.rec), instead) {
		return c.cred, nil
	}
	return s.join(ctx, e, d)
}

// obtain is a flight's body: the protocol decides, settle applies its result. The
// outcome is recorded on the flight's span (ctx).
func (s *Source) obtain(ctx context.Context, e *entry, d demand) (*Credential, error) {
	prev := e.state.Load()
	if prev == nil {
		prev = e.lastGood.Load()
	}
	res := s.proto.run(ctx, attempt{e: e, need: d, serving: func() bool { return s.servable(prev, d.rej) }})
	cred, err := s.settle(ctx, e, prev, d, res)
	s.tr.settled(ctx, res.outcome, err)
	return cred, err
}

// settle applies a flight's result to the account's cached state.
func (s *Source) settle(ctx context.Context, e *entry, prev *cached, d demand, res result) (*Credential, error) {
	now := s.clk.Now()
	switch res.verdict {
	case usePublished:
		return e.publish(res.rec, s.fresh, now), nil
	case useWritten:
		cred := e.publish(res.rec, s.fresh, now)
		s.inval.publish(ctx, e)
		return cred, nil
	case useError:
		e.remember(res.err, res.until, now)
		return nil, res.err
	case useErrorOnce:
		return nil, res.err
	}
	// Unavailable: the previous token while it is valid (no background refresh before
	// the retry), else UnavailableError with Retry-After, remembered for at most
	// errRecheck, or (after a 401) a valid stored token other than the rejected one.
	if !res.noPrev && s.servable(prev, d.rej) {
		return e.serveUntilRetry(prev, now.Add(res.retry)), nil
	}
	err := &UnavailableError{RetryAfter: res.retry, Err: res.err}
	e.remember(err, now.Add(res.retry), now)
	if res.fallback != nil {
		return e.publish(*res.fallback, s.fresh, s.clk.Now()), nil
	}
	return nil, err
}

// servable tells whether the token cached before a flight still answers its callers
// when no new one can be had: valid, and not the rejected one (trust.go, lastResort).
func (s *Source) servable(prev *cached, r rejection) bool {
	return prev != nil && prev.err == nil && s.clk.Now().Before(prev.validUntil) &&
		r.mayAnswer(prev.cred.AccessToken, prev.cred.prov, lastResort)
}

// changed drops every local copy of the account and tells the peers.
func (s *Source) changed(ctx context.Context, account string) {
	e := s.cache.get(account, s.clk.Now())
	e.reset()
	s.inval.publish(ctx, e)
}
