package tokenstore

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"time"
)

// validator is background validation (Config.ValidateEvery). Every interval it walks
// the account list and refreshes each account whose refresh token has not proved
// itself (a refresh, or being obtained) within every. The refresh is an ordinary
// flight of the account (flight.go) with cause CauseValidate, so it takes the
// refresh lock, re-reads the store and writes compare-and-set like a request's, and
// joins (or is joined by) a request's refresh of the same account. A revoked grant
// is found by the token call (invalid_grant): the protocol marks the account
// reauth_required and tells the StatusListener before any request finds out.
//
//   - Pacing: one validation refresh at a time, each starting pace plus up to a
//     quarter of it (jitter) after the previous one started (a slow token call does
//     not slow the pace, a slower one than pace delays the next), so a pass over N
//     stale accounts lasts at least N×pace and never bursts into the token endpoint. Passes start every interval (every/4,
//     at most an hour) after the previous one ended, the first after a random part of
//     an interval.
//   - One validator at a time: on a ValidationClaimer store a pass runs only while
//     its Source holds the claim, which it renews before each refresh; the other
//     Sources skip their pass.
//   - reauth_required accounts are retried on a backoff (backoff.go): first
//     ReauthBackoff after they were marked (the protocol refuses earlier tries), then
//     after each failed try ReauthBackoff doubling, jittered, capped at every. The
//     backoff lives in the validating Source's memory: a Source that takes the claim
//     over may try such an account once more before backing off.
//   - Accounts that need no token call are never refreshed: the client-credentials
//     account, records without a refresh token, records that cannot be read.
type validator struct {
	store    Store
	claimer  ValidationClaimer // nil: this Source is the only validator
	owner    string            // this Source's claim id
	health   *storeHealth
	log      *slog.Logger
	clk      clock
	every    time.Duration
	interval time.Duration
	pace     time.Duration
	reauth   time.Duration // Config.ReauthBackoff
	retry    backoffPolicy
	// refresh runs the account's flight with cause CauseValidate (Source.validate).
	refresh func(ctx context.Context, account string, since time.Time) error
	sleep   func(ctx context.Context, d time.Duration) bool // false: ctx ended
	jitter  func(d time.Duration) time.Duration             // uniform in [0, d)

	mu      sync.Mutex             // one pass at a time; guards retries
	retries map[string]reauthRetry // reauth_required accounts tried in vain
}

// reauthRetry is the backoff of a reauth_required account since its mark.
type reauthRetry struct {
	reauthAt time.Time // the mark it belongs to; another mark starts afresh
	b        backoff
}

// validatePage is how many records a pass lists at a time.
const validatePage = 500

func newValidator(s *Source, health *storeHealth) *validator {
	cfg := s.cfg
	sleep := cfg.validateSleep
	if sleep == nil {
		sleep = s.clk.pause
	}
	claimer, _ := cfg.Store.(ValidationClaimer)
	return &validator{
		store: cfg.Store, claimer: claimer, owner: rand.Text(), health: health, log: cfg.Logger, clk: s.clk,
		every: cfg.ValidateEvery, interval: min(cfg.ValidateEvery/4, time.Hour), pace: cfg.ValidatePace,
		reauth: cfg.ReauthBackoff, retry: newBackoffPolicy(cfg.ReauthBackoff, cfg.ValidateEvery, cfg.ValidateEvery),
		refresh: s.validate, sleep: sleep,
		jitter: func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return mrand.N(d)
		},
		retries: map[string]reauthRetry{},
	}
}

// run starts a pass after a random part of an interval, then an interval after each
// pass ends, until ctx ends.
func (v *validator) run(ctx context.Context) {
	if !v.sleep(ctx, v.jitter(v.interval)) {
		return
	}
	for {
		v.pass(ctx)
		if !v.sleep(ctx, v.interval) {
			return
		}
	}
}

// candidate is what a pass keeps of a record it will refresh (no secrets).
type candidate struct {
	account  string
	status   Status
	reauthAt time.Time
}

// pass walks the account list once, if this Source holds the claim. It returns how
// many accounts it refreshed (or tried to), and false when another Source held the
// claim.
func (v *validator) pass(ctx context.Context) (tried int, ran bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.claim(ctx) {
		return 0, false
	}
	start := v.clk.Now()
	seen := map[string]bool{} // reauth_required accounts listed
	var last time.Time        // when the previous refresh of the pass started
	failed := 0
	cursor := ""
	for {
		recs, next, err := v.store.List(ctx, cursor, validatePage)
		if err != nil {
			if ctx.Err() == nil { // not the Source closing
				v.health.failed(OpList)
				v.log.Warn("listing accounts for validation failed; the next pass tries again", "error", err)
			}
			return tried, true
		}
		for _, c := range v.due(recs, seen) {
			if !v.waitTurn(ctx, &last) || !v.claim(ctx) {
				return tried, true // stopped, or another Source validates now
			}
			tried++
			if !v.validate(ctx, c) {
				failed++
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	for account := range v.retries {
		if !seen[account] {
			delete(v.retries, account) // deleted, or ok again
		}
	}
	if tried > 0 {
		v.log.Info("validation pass done", "refreshed", tried-failed, "failed", failed, "took", v.clk.Now().Sub(start).Round(time.Millisecond).String())
	}
	return tried, true
}

// waitTurn waits until the next refresh may start: pace plus up to a quarter of
// it (jitter) after the previous one started (*last, zero before the first), so a
// refresh's own time does not slow the pace. It sets *last to now; false when ctx
// ended.
func (v *validator) waitTurn(ctx context.Context, last *time.Time) bool {
	wait := v.pace + v.jitter(v.pace/4)
	if !last.IsZero() {
		wait = last.Add(wait).Sub(v.clk.Now())
	}
	if wait > 0 && !v.sleep(ctx, wait) {
		return false
	}
	*last = v.clk.Now()
	return ctx.Err() == nil
}

// release gives up the validation claim at Close, so another Source validates at
// its next pass instead of after the claim runs out.
func (v *validator) release() {
	if v.claimer == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := v.claimer.ReleaseValidation(ctx, v.owner); err != nil {
		v.log.Warn("releasing the validation claim failed; another replica takes it when it runs out", "error", err)
	}
}

// claim takes or renews the validation claim; true without a claimer.
func (v *validator) claim(ctx context.Context) bool {
	if v.claimer == nil {
		return true
	}
	// The claim outlives a few paced refreshes and ends before the next interval, so
	// a claimant that died leaves the work to another Source within an interval.
	mine, err := v.claimer.ClaimValidation(ctx, v.owner, max(v.interval*9/10, 3*v.pace))
	if err != nil {
		if ctx.Err() == nil { // not the Source closing
			v.health.failed(OpLock)
			v.log.Warn("claiming account validation failed; the next pass tries again", "error", err)
		}
		return false
	}
	return mine
}

// due picks the records of a page to refresh now: ok accounts whose refresh token
// has not proved itself within every, and reauth_required accounts whose backoff
// has passed. It notes the reauth_required accounts in seen.
func (v *validator) due(recs []Record, seen map[string]bool) []candidate {
	now := v.clk.Now()
	var out []candidate
	for _, r := range recs {
		if r.ClientCredentials || r.RefreshToken == "" {
			continue
		}
		switch r.Status {
		case StatusOK:
			if provedAt(r).After(now.Add(-v.every)) {
				continue
			}
		case StatusReauthRequired:
			seen[r.Account] = true
			if !v.retryDue(r, now) {
				continue
			}
		default: // unreadable: left to an operator
			continue
		}
		out = append(out, candidate{account: r.Account, status: r.Status, reauthAt: r.ReauthAt})
	}
	return out
}

// retryDue reports whether a reauth_required account may be tried again at now.
func (v *validator) retryDue(r Record, now time.Time) bool {
	if now.Before(r.ReauthAt.Add(v.reauth)) {
		return false
	}
	rt, ok := v.retries[r.Account]
	return !ok || !rt.reauthAt.Equal(r.ReauthAt) || !now.Before(rt.b.notBefore)
}

// validate refreshes one account and keeps the backoff of a reauth_required one. It
// reports whether the account works.
func (v *validator) validate(ctx context.Context, c candidate) bool {
	err := v.refresh(ctx, c.account, v.clk.Now().Add(-v.every))
	switch {
	case err == nil:
		delete(v.retries, c.account)
		v.log.Debug("account validated", "account", c.account)
		return true
	case errors.Is(err, ErrReauthRequired):
		if c.status == StatusReauthRequired {
			rt := v.retries[c.account]
			if !rt.reauthAt.Equal(c.reauthAt) {
				rt = reauthRetry{reauthAt: c.reauthAt}
			}
			rt.b = v.retry.failed(rt.b, v.clk.Now())
			v.retries[c.account] = rt
		}
		// Newly marked: the protocol logged it and told the StatusListener; the next
		// try waits ReauthBackoff from the mark.
	case ctx.Err() == nil:
		v.log.Debug("account validation did not complete; the next pass tries again", "account", c.account, "error", err)
	}
	return false
}

// provedAt is when rec's refresh token last proved itself: its last refresh, or
// when it was obtained.
func provedAt(rec Record) time.Time {
	if rec.ObtainedAt.After(rec.RefreshedAt) {
		return rec.ObtainedAt
	}
	return rec.RefreshedAt
}

// validate runs the account's flight with cause CauseValidate; a token refreshed
// after since answers it without a token call. An entry it has to add to the cache
// leaves it afterwards unless a request used it meanwhile (cache.borrow).
func (s *Source) validate(ctx context.Context, account string, since time.Time) error {
	e, added := s.cache.borrow(account)
	if added {
		defer s.cache.giveBack(e)
	}
	_, err := s.join(ctx, e, demand{cause: CauseValidate, since: since})
	return err
}
