package ratelimit

import (
	"context"
	"time"
)

// Phases of a gate, as Snapshot names them.
const (
	PhaseOpen      = "open"      // calls go
	PhaseBlocked   = "blocked"   // a block is in force, or has ended and the next request probes
	PhaseProbing   = "probing"   // one request tests Spotify; the others wait for its answer
	PhaseReleasing = "releasing" // the waiting requests go one per ReleaseInterval
)

// Snapshot is what a gate knows, for display (the operator page). It holds no
// secret: the app is the client id.
type Snapshot struct {
	App   string
	Phase string
	// Block is the last block known; Until is zero when none was.
	Block Block
	// Remaining is the time left of Block; 0 once it has ended.
	Remaining time.Duration
	// ProbeElsewhere: probing, and the probe is another replica's.
	ProbeElsewhere bool
	// Waiting is how many requests wait in this replica.
	Waiting int
	// ReleaseInterval is the pace of the release.
	ReleaseInterval time.Duration
	// Budget is the budget's use; nil without a budget.
	Budget *BudgetUsage
}

// BudgetUsage is how much of a budget is in use.
type BudgetUsage struct {
	Limit, PerAccount Limit
	// Used is the number of calls in the app-wide window now; -1 when it could not
	// be read or no app-wide limit is set.
	Used int
}

// Snapshot returns what the gate knows now. Without a budget it makes no store
// round trip; with one it reads the budget's use, and an error reading it is
// returned with the rest of the snapshot (Budget.Used is then -1).
func (g *Gate) Snapshot(ctx context.Context) (Snapshot, error) {
	now := g.clock.Now()
	g.mu.Lock()
	s := Snapshot{App: g.cfg.App, Block: g.block, Waiting: g.waiting, ReleaseInterval: g.cfg.ReleaseInterval}
	if s.Block.Until.After(now) {
		s.Remaining = s.Block.Until.Sub(now)
	}
	switch g.phase {
	case phaseOpen:
		s.Phase = PhaseOpen
	case phaseBlocked:
		s.Phase = PhaseBlocked
	case phaseProbing:
		s.Phase = PhaseProbing
		s.ProbeElsewhere = !g.remote.IsZero()
	case phasePacing:
		s.Phase = PhaseReleasing
		if !now.Before(g.pacingEnd) && !now.Before(g.nextSlot) {
			s.Phase = PhaseOpen // the next request finds the release done
		}
	}
	g.mu.Unlock()
	if g.cfg.Budget == nil {
		return s, nil
	}
	u, err := g.cfg.Budget.Usage(ctx)
	if err != nil {
		u.Used = -1
	}
	s.Budget = &u
	return s, err
}
