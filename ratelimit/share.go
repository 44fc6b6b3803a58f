package ratelimit

import (
	"context"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

// Sharer shares an app's blocks among replicas.
type Sharer interface {
	// Share stores b for app unless a later block is stored, tells every replica,
	// and returns the block in force.
	Share(ctx context.Context, app string, b Block) (Block, error)
	// Follow calls fn with the stored block when the subscription starts, then
	// with every block any replica shares and every release a Prober publishes,
	// until ctx ends (nil) or the subscription fails (the error).
	Follow(ctx context.Context, app string, fn func(Notice)) error
}

// Notice is what a replica learns from the others: a block, or the release of one.
type Notice struct {
	Block Block
	// Released: a probe sent after Block ended was answered (not 429), so every
	// replica releases the requests that wait for it.
	Released bool
}

// Record records a 429 from Spotify with its Retry-After and reason: the block
// holds this replica at once, and the other replicas through the Sharer. A store
// that fails is counted and logged; the block then holds this replica only.
func (g *Gate) Record(ctx context.Context, retryAfter time.Duration, reason string) {
	b := Block{Until: g.clock.Now().Add(retryAfter), Reason: reason}
	g.Observe(b)
	if g.cfg.Sharer == nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.ShareTimeout)
	defer cancel()
	got, err := g.cfg.Sharer.Share(sctx, g.cfg.App, b)
	if err != nil {
		g.m.StoreError(metrics.OpRateLimit)
		g.log.Warn("sharing a rate limit block failed; it holds this replica only", "until", b.Until, "error", err)
		return
	}
	g.Observe(got)
}

// Observe applies a block learnt from this replica or another: a later one
// replaces the one known, an earlier one changes nothing.
func (g *Gate) Observe(b Block) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.observe(b)
}

// observe is Observe with g.mu held.
func (g *Gate) observe(b Block) {
	if !b.Until.After(g.block.Until) {
		return
	}
	g.block = b
	g.m.SetRateLimitBlockedUntil(b.Until)
	if b.Until.After(g.clock.Now()) {
		g.phase = phaseBlocked
		g.active.Store(true)
	}
	g.broadcast()
}

// Follow keeps the gate in step with the blocks the other replicas share (and the
// releases their probes publish), until
// ctx ends. A broken subscription is counted, logged and started again after a
// second. Without a Sharer it returns at once.
func (g *Gate) Follow(ctx context.Context) {
	if g.cfg.Sharer == nil {
		return
	}
	for {
		err := g.cfg.Sharer.Follow(ctx, g.cfg.App, g.notice)
		if ctx.Err() != nil {
			return
		}
		g.m.StoreError(metrics.OpRateLimit)
		g.log.Warn("rate limit subscription failed; blocks from other replicas are missed until it is back", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-g.clock.After(time.Second):
		}
	}
}

// notice applies what another replica shared.
func (g *Gate) notice(n Notice) {
	if !n.Released {
		g.Observe(n.Block)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.block.Until.UnixMilli() > n.Block.Until.UnixMilli() {
		return // the release of an earlier block
	}
	if g.phase == phaseBlocked || g.phase == phaseProbing {
		g.release()
	}
}
