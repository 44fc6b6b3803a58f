package tokenstore

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// pendingWrite is a rotated refresh token the store did not take: next, to be
// written over read.
type pendingWrite struct{ read, next Record }

// pending is an account's rotated refresh token waiting to be written while the
// store is down. Its mutex is held across the write's store calls, so a flush and a
// retry never write at once.
type pending struct {
	mu sync.Mutex
	w  *pendingWrite
}

// pendingWrites keeps rotated refresh tokens the store did not take and writes them
// as soon as it answers: such a token is the only live copy and must never be
// dropped. Every flight of the account flushes it first, so no refresh of this
// replica uses the dead stored token.
type pendingWrites struct {
	store   Store
	health  *storeHealth
	inval   *invalidations
	log     *slog.Logger
	life    *lifecycle
	clk     clock
	timeout time.Duration // one retry (Config.RefreshTimeout)
}

// keep remembers next (to be written over read) for e's account and writes it again
// every pendingRetry until the store takes it.
func (pw *pendingWrites) keep(e *entry, read, next Record) {
	e.pending.mu.Lock()
	e.pending.w = &pendingWrite{read: read, next: next}
	e.pending.mu.Unlock()
	pw.life.goroutine(func() {
		for {
			pw.clk.sleep(pw.life.ctx, pendingRetry)
			if pw.life.ctx.Err() != nil {
				pw.log.Error("shutting down with a rotated refresh token not yet stored", "account", e.account)
				return
			}
			ctx, cancel := context.WithTimeout(pw.life.ctx, pw.timeout)
			err := pw.flush(ctx, e)
			cancel()
			if err == nil {
				return
			}
		}
	})
}

// flush writes the account's pending record, if any. It returns nil when nothing is
// pending any more (written, superseded by a record with another refresh token, or
// the account was deleted).
func (pw *pendingWrites) flush(ctx context.Context, e *entry) error {
	e.pending.mu.Lock()
	defer e.pending.mu.Unlock()
	p := e.pending.w
	for p != nil {
		_, err := pw.store.Put(ctx, p.next, p.read.Version)
		if err == nil {
			pw.log.Info("pending rotated refresh token stored", "account", e.account)
			e.pending.w = nil
			// Peers may have cached a reauth_required state for the dead token.
			pw.inval.publish(ctx, e)
			return nil
		}
		if !errors.Is(err, ErrVersionConflict) {
			pw.health.failed(OpWrite)
			return err
		}
		cur, gerr := pw.store.Get(ctx, e.account)
		if errors.Is(gerr, ErrNotFound) {
			pw.log.Warn("pending refresh token dropped: the account was deleted", "account", e.account)
			e.pending.w = nil
			return nil
		}
		if gerr != nil {
			pw.health.failed(OpRead)
			return gerr
		}
		if cur.RefreshToken != p.read.RefreshToken {
			pw.log.Warn("pending refresh token superseded by a newer record", "account", e.account)
			e.pending.w = nil
			return nil
		}
		p.read, p.next.Version = cur, cur.Version
	}
	return nil
}
