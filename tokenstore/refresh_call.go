package tokenstore

import (
	"context"
	"errors"
	"time"
)

// refresh calls the token endpoint with rec and writes the result. After an
// invalid_grant that a peer caused (it rotated the refresh token), it takes the
// peer's token or refreshes once more with the peer's refresh token: a loop, not a
// recursion.
func (p *protocol) refresh(ctx context.Context, a attempt, rec Record, lease Lease, d demand) result {
	serving, noPrev := a.serving, false
	var fallback *Record // see result.fallback
	for {
		// A lease lost during the call does not cancel it: a rotated refresh token must
		// not be thrown away, and the conditional write decides whether it may be stored.
		start := p.clk.Now()
		var tok Token
		var err error
		ectx, span := p.tr.start(ctx, SpanEndpoint, grant(rec))
		if rec.ClientCredentials {
			tok, err = p.tokens.ClientCredentials(ectx)
		} else {
			tok, err = p.tokens.Refresh(ectx, rec.RefreshToken)
		}
		took := p.clk.Now().Sub(start)
		rotated := err == nil && tok.RefreshToken != "" && tok.RefreshToken != rec.RefreshToken
		endEndpoint(span, rotated, err)
		switch {
		case errors.Is(err, ErrInvalidGrant):
			p.obs.Refreshed(d.cause, ResultInvalidGrant, took, p.tr.traceID(ctx))
			cur, recovered, res := p.invalidGrant(ctx, a.e.account, rec, err)
			if !recovered {
				return res
			}
			p.obs.Raced(RaceInvalidGrantRecovered)
			p.tr.linkPeer(ctx, cur.TraceParent, "invalid_grant_recovered")
			valid := p.fresh.valid(cur, p.clk.Now())
			if valid && d.rej.mayAnswer(cur.AccessToken, provenanceOf(cur), instead) {
				return published(cur, outcomeRecovered)
			}
			// Refresh with the peer's refresh token. The token cached before this
			// flight is no longer served if that fails; the peer's token is, after a
			// 401, as a last resort.
			if valid && d.rej.mayAnswer(cur.AccessToken, provenanceOf(cur), lastResort) {
				fb := cur
				fallback = &fb
			}
			rec, d.cause, noPrev = cur, CauseExpired, true
			serving = func() bool { return false }
			continue
		case err != nil:
			p.obs.Refreshed(d.cause, ResultError, took, p.tr.traceID(ctx))
			p.log.Warn("token refresh failed", "account", a.e.account, "trigger", d.cause.String(), "error", err)
			wait := a.e.backoff.fail(p.backoff, p.clk.Now(), serving())
			return result{verdict: useUnavailable, err: err, retry: wait, noPrev: noPrev, fallback: fallback, outcome: outcomeEndpointError}
		}
		p.obs.Refreshed(d.cause, ResultSuccess, took, p.tr.traceID(ctx))
		a.e.backoff.reset()

		next := rec
		// RefreshedAt is when the call began: the token was issued after that moment.
		next.AccessToken, next.Expiry, next.RefreshedAt, next.Status, next.ReauthAt = tok.AccessToken, tok.Expiry, start, StatusOK, time.Time{}
		next.Cause = d.cause
		// The span that obtained the token, for peers that take it to link to; none
		// (not the previous token's) when this refresh is not sampled.
		next.TraceParent = p.tr.traceparent(ctx)
		if tok.Scope != "" {
			next.Scope = tok.Scope
		}
		if rotated {
			next.RefreshToken, next.ObtainedAt = tok.RefreshToken, p.clk.Now()
		}
		if p.beforeWrite != nil {
			p.beforeWrite(a.e.account)
		}
		select {
		case <-lease.Lost():
			p.log.Warn("refresh lock lost during the token call; the write is conditional", "account", a.e.account)
		default:
		}
		return p.write(ctx, a.e, rec, next, rotated)
	}
}

// write stores next conditionally on the version of read. A rejected write is
// discarded unless the stored record still holds the refresh token we used and we
// hold its rotated successor: then the stored token is dead and ours is the only live
// one, so it is written over the newer version (a peer that lost the race marked the
// account reauth_required with the dead token).
func (p *protocol) write(ctx context.Context, e *entry, read, next Record, rotated bool) result {
	wctx, span := p.tr.start(ctx, SpanWrite)
	for attempt := 0; ; attempt++ {
		stored, err := p.store.Put(wctx, next, read.Version)
		if err == nil {
			statusChanged(ctx, p.status, read, stored, p.clk.Now())
			written := "written"
			if attempt > 0 {
				written = "overwritten"
			}
			endWrite(span, written, stored.Version)
			// Peers drop their copy and read this one at their next request: a peer
			// waiting out an error, or holding a token about to be rejected, moves on.
			return result{verdict: useWritten, rec: stored, outcome: outcomeWritten}
		}
		if !errors.Is(err, ErrVersionConflict) {
			endWrite(span, "error", 0)
			p.health.failed(OpWrite)
			if rotated {
				p.pending.keep(e, read, next)
			}
			p.log.Error("storing the refreshed token failed; serving it from memory", "account", e.account, "error", err)
			return published(next, outcomeUnstored)
		}
		cur, gerr := p.store.Get(wctx, e.account)
		if gerr == nil && rotated && attempt < 3 && cur.RefreshToken == read.RefreshToken {
			read = cur
			next.Version = cur.Version
			next.AuthorizedAt = cur.AuthorizedAt
			continue
		}
		endWrite(span, "conflict", 0)
		p.obs.Raced(RaceStaleWriteRejected)
		p.log.Warn("refresh result discarded: the record changed meanwhile", "account", e.account)
		if gerr == nil && p.fresh.valid(cur, p.clk.Now()) {
			p.tr.linkPeer(ctx, cur.TraceParent, "stale_write_rejected")
			return published(cur, outcomeConflict)
		}
		return published(next, outcomeConflict)
	}
}

// invalidGrant handles a refresh token the endpoint rejected. A peer may have
// rotated it: the store is read again (with a shared store, once more after
// peerGrace, for a peer whose write of the successor is pending). It returns the
// peer's record (recovered) or, when nobody replaced the token, marks the account
// reauth_required and returns that failure.
func (p *protocol) invalidGrant(ctx context.Context, account string, rec Record, cause error) (cur Record, recovered bool, res result) {
	rotatedByPeer := func(cur Record) bool { return cur.RefreshToken != rec.RefreshToken && cur.Status == StatusOK }
	cur, err := p.store.Get(ctx, account)
	if err == nil && rotatedByPeer(cur) {
		return cur, true, result{}
	}
	if err == nil && p.shared {
		p.clk.sleep(p.stop, peerGrace)
		if cur, err = p.store.Get(ctx, account); err == nil && rotatedByPeer(cur) {
			return cur, true, result{}
		}
	}
	now := p.clk.Now()
	p.log.Warn("refresh token rejected; account needs re-authorisation", "account", account, "error", cause)
	if err == nil && cur.RefreshToken == rec.RefreshToken && cur.Status == StatusOK {
		marked := cur
		marked.Status, marked.ReauthAt = StatusReauthRequired, now
		_, err := p.store.Put(ctx, marked, cur.Version)
		if err == nil {
			statusChanged(ctx, p.status, cur, marked, now)
		}
		switch {
		case errors.Is(err, ErrVersionConflict):
			if cur, err := p.store.Get(ctx, account); err == nil && rotatedByPeer(cur) {
				return cur, true, result{}
			}
		case err != nil:
			p.health.failed(OpWrite)
		}
	}
	return Record{}, false, failure(ErrReauthRequired, now.Add(p.reauthBackoff), outcomeReauth)
}
