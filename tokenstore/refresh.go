package tokenstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// protocol is how one flight obtains an account's token: read the store, take the
// refresh lock, read again (a peer may have refreshed meanwhile), call the token
// endpoint, write compare-and-set on the version read, and recover from an
// invalid_grant a peer caused. It decides and returns a result; it never touches
// the cache (the Source applies the result), and nothing in it recurses.
type protocol struct {
	store   Store
	locker  Locker
	tokens  Refresher
	obs     Observer
	status  StatusListener
	log     *slog.Logger
	clk     clock
	tr      *tracer         // nil: not traced
	stop    context.Context // the Source's lifetime: ends the grace waits at Close
	shared  bool            // the store is a SharedStore: peers may hold pending writes
	health  *storeHealth
	pending *pendingWrites
	fresh   freshness
	backoff backoffPolicy
	floor   floor

	appAccount    string
	reauthBackoff time.Duration
	beforeWrite   func(account string) // test hook (Config.beforeWrite)
}

// verdict is what the Source does with a flight's result.
type verdict uint8

const (
	usePublished   verdict = iota // rec is the account's token now
	useWritten                    // rec was just written: it is the token now, and peers are told
	useError                      // err answers the account's callers until until
	useErrorOnce                  // err answers this caller only
	useUnavailable                // no new token now (see Source.settle)
)

// result is a flight's outcome.
type result struct {
	verdict verdict
	rec     Record
	err     error
	until   time.Time     // useError
	retry   time.Duration // useUnavailable: Retry-After
	// noPrev (useUnavailable): the token cached before the flight is not to be served
	// (a refresh after an invalid_grant a peer repaired).
	noPrev bool
	// fallback (useUnavailable), after a 401: a valid stored token other than the
	// rejected one, served rather than an error (trust.go, lastResort).
	fallback *Record
	// outcome names what happened, for the flight's span (AttrOutcome).
	outcome string
}

func published(rec Record, outcome string) result {
	return result{verdict: usePublished, rec: rec, outcome: outcome}
}

func failure(err error, until time.Time, outcome string) result {
	return result{verdict: useError, err: err, until: until, outcome: outcome}
}

// unavailable: no new token now; retry is the Retry-After, fb the fallback.
func unavailable(cause error, retry time.Duration, fb *Record, outcome string) result {
	return result{verdict: useUnavailable, err: cause, retry: retry, fallback: fb, outcome: outcome}
}

// attempt is one flight's input.
type attempt struct {
	e    *entry
	need demand
	// serving reports whether the token cached before the flight is still served
	// (valid and not the rejected one): it selects the backoff's cap.
	serving func() bool
}

// run is the body of a flight.
func (p *protocol) run(ctx context.Context, a attempt) result {
	d, account := a.need, a.e.account
	if err := p.pending.flush(ctx, a.e); err != nil {
		return unavailable(fmt.Errorf("storing a rotated refresh token: %w", err), storeRetry, nil, outcomeStoreError)
	}
	rctx, span := p.tr.start(ctx, SpanRead)
	rec, err := p.store.Get(rctx, account)
	endRead(span, rec, err)
	switch {
	case errors.Is(err, ErrNotFound):
		if account != p.appAccount {
			return failure(ErrNoToken, p.clk.Now().Add(noTokenMemory), outcomeNoToken)
		}
		rec = Record{Account: account, ClientCredentials: true, Status: StatusOK}
	case err != nil:
		p.health.failed(OpRead)
		if errors.Is(err, ErrCorrupt) {
			// Not used, never overwritten: an operator has to look at it.
			p.log.Error("stored record refused; it is left as it is", "account", account, "error", err)
		}
		return unavailable(fmt.Errorf("reading the store: %w", err), storeRetry, nil, outcomeStoreError)
	}
	now := p.clk.Now()
	if d.cause == CauseNone { // a background re-check: take what the store has
		if p.fresh.valid(rec, now) {
			return published(rec, outcomeStored)
		}
		d.cause = CauseExpired
		p.tr.refreshing(ctx)
	}
	if p.satisfies(rec, d, now) {
		return published(rec, outcomeStored)
	}
	if d.cause == CauseUnauthorized && p.floor.holds(rec, d.rej, now) {
		return result{verdict: useErrorOnce, outcome: outcomeTooSoon,
			err: fmt.Errorf("%w (account %q, refreshed %s ago)", ErrRefreshTooSoon, account, now.Sub(rec.RefreshedAt).Round(time.Millisecond))}
	}
	var fallback *Record
	if d.cause == CauseUnauthorized && p.fresh.valid(rec, now) && d.rej.mayAnswer(rec.AccessToken, provenanceOf(rec), lastResort) {
		fb := rec
		fallback = &fb
	}
	if rec.Status == StatusReauthRequired && now.Before(rec.ReauthAt.Add(p.reauthBackoff)) {
		return failure(ErrReauthRequired, rec.ReauthAt.Add(p.reauthBackoff), outcomeReauth)
	}
	if !rec.ClientCredentials && rec.RefreshToken == "" {
		return failure(ErrNoToken, now.Add(noTokenMemory), outcomeNoToken)
	}
	b := a.e.backoff.get()
	if wait := b.until(a.serving()).Sub(p.clk.Now()); wait > 0 {
		return unavailable(fmt.Errorf("the token endpoint failed %d times; next try in %s", b.failures, wait.Round(time.Millisecond)), wait, fallback, outcomeBackoff)
	}

	elapsed := p.clk.stopwatch() // lock waits are real time, whatever the injected clock
	lctx, span := p.tr.start(ctx, SpanLock)
	lease, err := p.locker.Lock(lctx, account)
	waited := elapsed()
	endLock(span, err)
	p.obs.LockWaited(waited)
	if err != nil {
		if !errors.Is(err, ErrLockTimeout) {
			p.health.failed(OpLock)
		}
		// A peer holds the lock for long (or the store fails): use what is stored if
		// it is still valid.
		rctx, span := p.tr.start(ctx, SpanReread)
		r2, err2 := p.store.Get(rctx, account)
		endReread(span, rec.Version, r2, err2)
		if err2 == nil && p.fresh.valid(r2, p.clk.Now()) && d.rej.mayAnswer(r2.AccessToken, provenanceOf(r2), lastResort) {
			p.obs.Raced(RaceLockTimeout)
			p.tr.linkPeer(ctx, r2.TraceParent, "lock_timeout")
			return published(r2, outcomeLockTimeout)
		}
		if errors.Is(err, ErrLockTimeout) {
			// A peer is still refreshing: not a failure of ours. Come back soon.
			return unavailable(err, peerRetry, fallback, outcomeLockTimeout)
		}
		return unavailable(fmt.Errorf("refresh lock: %w", err), storeRetry, fallback, outcomeStoreError)
	}
	defer func() { _ = lease.Release(context.WithoutCancel(ctx)) }()

	// A peer may have refreshed while we waited for the lock.
	rctx, span = p.tr.start(ctx, SpanReread)
	r2, err := p.store.Get(rctx, account)
	if err == nil && r2.Version == rec.Version && p.shared && (waited > lockWaitedLong || p.health.failedWithin(storeRecovery)) {
		// We waited for a peer that left no result, or the store was failing a moment
		// ago: a peer may hold a rotated refresh token in memory (its write failed)
		// and be about to write it. Refreshing with the stored token now could be
		// refreshing with a dead one, so give that write a moment.
		span.AddEvent("peer grace")
		p.clk.sleep(p.stop, peerGrace)
		r2, err = p.store.Get(rctx, account)
	}
	endReread(span, rec.Version, r2, err)
	switch {
	case err == nil:
		// A peer wrote while we waited for the lock: its token is taken on the 401
		// rule's terms (one it got before a 401 arrived may have died with ours).
		if r2.Version != rec.Version && p.fresh.valid(r2, p.clk.Now()) && d.rej.mayAnswer(r2.AccessToken, provenanceOf(r2), instead) {
			p.obs.Raced(RacePeerRefreshed)
			p.tr.linkPeer(ctx, r2.TraceParent, "peer_refreshed")
			return published(r2, outcomePeerRefreshed)
		}
		rec = r2
	case errors.Is(err, ErrNotFound):
		if !rec.ClientCredentials {
			return failure(ErrNoToken, p.clk.Now().Add(noTokenMemory), outcomeNoToken)
		}
		rec.Version = 0
	default:
		p.health.failed(OpRead)
		return unavailable(fmt.Errorf("reading the store: %w", err), storeRetry, fallback, outcomeStoreError)
	}
	res := p.refresh(ctx, a, rec, lease, d)
	if res.verdict == useUnavailable && res.fallback == nil {
		res.fallback = fallback
	}
	return res
}

// satisfies reports whether a stored record answers d without a refresh: after a
// 401, a valid token the 401 rule trusts; for a validation, a valid token refreshed
// (or a refresh token obtained) after d.since; otherwise a fresh one.
func (p *protocol) satisfies(rec Record, d demand, now time.Time) bool {
	switch d.cause {
	case CauseValidate:
		return p.fresh.valid(rec, now) && provedAt(rec).After(d.since)
	case CauseUnauthorized:
		return p.fresh.valid(rec, now) && d.rej.mayAnswer(rec.AccessToken, provenanceOf(rec), instead)
	}
	return p.fresh.fresh(rec, now) && d.rej.mayAnswer(rec.AccessToken, provenanceOf(rec), instead)
}
