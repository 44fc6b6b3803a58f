package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

// Prober elects the one request, across all replicas, that probes Spotify when a
// block ends. Its methods are safe for concurrent use.
type Prober interface {
	// Lease asks that owner (unique per probe) send the probe after app's block
	// ending at until, holding the others for ttl.
	Lease(ctx context.Context, app string, until time.Time, owner string, ttl time.Duration) (Lease, error)
	// Finish reports how owner's probe went and frees its lease. ok (Spotify
	// answered, not 429) releases every replica: the release reaches them through
	// Sharer.Follow as a Notice. A 429 renews the block through Sharer.Share
	// before Finish is called.
	Finish(ctx context.Context, app string, until time.Time, owner string, ok bool) error
}

// LeaseOutcome is the answer to Prober.Lease.
type LeaseOutcome uint8

const (
	// LeaseTaken: the asking request is the probe.
	LeaseTaken LeaseOutcome = iota
	// LeaseHeld: another probe is out until Lease.Expires.
	LeaseHeld
	// LeaseReleased: a probe after this block was answered already; release.
	LeaseReleased
	// LeaseBlocked: a later block is stored, Lease.Block.
	LeaseBlocked
)

// Lease is the answer to Prober.Lease.
type Lease struct {
	Outcome LeaseOutcome
	Expires time.Time // LeaseTaken, LeaseHeld: when the lease ends
	Block   Block     // LeaseBlocked
}

// newGateID names a gate in probe leases, so a replica frees only its own.
func newGateID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	return hex.EncodeToString(b[:])
}

func (g *Gate) owner(p Pass) string { return g.id + "-" + strconv.FormatUint(p.probe, 10) }

// elect runs when the block has ended and no probe is out: this request becomes
// the probe (ok), or, through the Prober, learns that another replica's probe is
// out, that one was answered, or that a later block holds. The other requests wait
// meanwhile. g.mu is held on entry and on return, and released while the store
// answers. A store that fails leaves the probing to each replica, as without a
// Prober.
func (g *Gate) elect(ctx context.Context) (Pass, bool) {
	g.phase = phaseProbing
	g.probeID++
	g.remote = time.Time{}
	p := Pass{probe: g.probeID, until: g.block.Until}
	g.broadcast()
	if g.cfg.Prober == nil {
		return p, true
	}
	g.mu.Unlock()
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.ShareTimeout)
	l, err := g.cfg.Prober.Lease(lctx, g.cfg.App, p.until, g.owner(p), g.cfg.ProbeLease)
	cancel()
	if err == nil && l.Outcome == LeaseTaken {
		p.leased = true
	}
	g.mu.Lock()
	if g.phase != phaseProbing || g.probeID != p.probe {
		// A block or a release arrived while the store answered.
		if p.leased {
			g.mu.Unlock()
			g.finish(p, 0)
			g.mu.Lock()
		}
		return Pass{}, false
	}
	switch {
	case err != nil:
		g.m.StoreError(metrics.OpRateLimit)
		g.log.Warn("electing the probe among replicas failed; this replica probes for itself", "error", err)
		return p, true
	case l.Outcome == LeaseTaken:
		return p, true
	case l.Outcome == LeaseReleased:
		g.release()
	case l.Outcome == LeaseBlocked:
		g.phase = phaseBlocked // also when the later block has ended too: elect again
		g.observe(l.Block)
		g.broadcast()
	default: // LeaseHeld
		g.remote = l.Expires
		g.broadcast()
	}
	return Pass{}, false
}

// finish tells the Prober how an elected probe went.
func (g *Gate) finish(p Pass, status int) {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShareTimeout)
	defer cancel()
	if err := g.cfg.Prober.Finish(ctx, g.cfg.App, p.until, g.owner(p), status != 0 && status != 429); err != nil {
		g.m.StoreError(metrics.OpRateLimit)
		g.log.Warn("reporting the probe's answer to the other replicas failed; they probe again when its lease ends", "error", err)
	}
}
