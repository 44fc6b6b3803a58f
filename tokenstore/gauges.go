package tokenstore

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// gauges computes the account gauges (accounts by status, ok accounts whose refresh
// token's lifetime ends within the warning, age of the oldest user authorisation)
// from the store, every interval, so scrapes never scan the store. On a shared store,
// one replica per interval lists the records and saves the summary; the others show
// what it saved.
type gauges struct {
	store    Store
	shared   SharedStore // the store, when replicas share it; nil otherwise
	health   *storeHealth
	obs      Observer
	log      *slog.Logger
	clk      clock
	interval time.Duration
	lifetime time.Duration // Config.RefreshTokenLifetime; 0: no account expires
	warning  time.Duration // Config.ExpiryWarning
}

// run scans now and every interval until ctx ends.
func (g *gauges) run(ctx context.Context) {
	t := g.clk.ticker(g.interval)
	defer t.Stop()
	for {
		g.scan(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ScanAccounts recomputes the account gauges from the store now. Run calls it every
// ScanInterval, so scrapes never scan the store. On a SharedStore, one replica per
// interval lists the records and saves the summary; the others show what it saved.
func (s *Source) ScanAccounts(ctx context.Context) { s.gauges.scan(ctx) }

// scan recomputes the gauges once.
func (g *gauges) scan(ctx context.Context) {
	interval := g.interval
	if interval <= 0 { // scans only on demand
		interval = time.Minute
	}
	ss, shared := g.shared, g.shared != nil
	if shared {
		// The claim ends a little before the next tick, so each interval has a claimant
		// even when the replicas' tickers drift.
		mine, err := ss.ClaimSummary(ctx, interval*9/10)
		if err != nil {
			g.health.failed(OpList)
			if ctx.Err() == nil {
				g.log.Warn("claiming the account summary failed", "error", err)
			}
			return
		}
		if !mine {
			sum, ok, err := ss.LoadSummary(ctx)
			switch {
			case errors.Is(err, ErrCorrupt):
				// Counted, but not as a store outage: refreshes do not slow down for a
				// gauge key, and the next claimant overwrites it.
				g.obs.StoreFailed(OpList)
				g.log.Warn("the account summary is unreadable; the gauges keep their values", "error", err)
			case err != nil:
				g.health.failed(OpList)
				if ctx.Err() == nil {
					g.log.Warn("reading the account summary failed", "error", err)
				}
			case ok:
				g.show(sum)
			default:
				g.log.Debug("no account summary yet; another replica computes it this interval")
			}
			return
		}
	}
	sum, err := g.summarize(ctx)
	if err != nil {
		g.health.failed(OpList)
		if ctx.Err() == nil {
			g.log.Warn("listing accounts for the gauges failed", "error", err)
		}
		return
	}
	g.show(sum)
	if shared {
		if err := ss.SaveSummary(ctx, sum, 3*interval); err != nil {
			g.health.failed(OpWrite)
			g.log.Warn("saving the account summary failed", "error", err)
		}
	}
}

// summarize lists every record.
func (g *gauges) summarize(ctx context.Context) (Summary, error) {
	var sum Summary
	now := g.clk.Now()
	cursor := ""
	for {
		recs, next, err := g.store.List(ctx, cursor, 500)
		if err != nil {
			return Summary{}, err
		}
		for _, r := range recs {
			switch r.Status {
			case StatusOK:
				sum.OK++
				if g.expiring(r, now) {
					sum.Expiring++
				}
			case StatusReauthRequired:
				sum.ReauthRequired++
			}
			if !r.ClientCredentials && !r.AuthorizedAt.IsZero() &&
				(sum.OldestAuthorizedAt.IsZero() || r.AuthorizedAt.Before(sum.OldestAuthorizedAt)) {
				sum.OldestAuthorizedAt = r.AuthorizedAt
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	sum.ComputedAt = now
	return sum, nil
}

// expiring reports whether r is a user's account whose refresh token's lifetime
// ends within the warning, or has ended.
func (g *gauges) expiring(r Record, now time.Time) bool {
	return g.lifetime > 0 && !r.ClientCredentials && !r.AuthorizedAt.IsZero() &&
		!now.Before(r.AuthorizedAt.Add(g.lifetime-g.warning))
}

func (g *gauges) show(sum Summary) {
	c := AccountCounts{OK: sum.OK, ReauthRequired: sum.ReauthRequired, Expiring: sum.Expiring}
	if !sum.OldestAuthorizedAt.IsZero() {
		c.OldestAuthorization = g.clk.Now().Sub(sum.OldestAuthorizedAt)
	}
	g.obs.AccountsCounted(c)
}
