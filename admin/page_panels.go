package admin

import (
	"context"
	"time"
)

// The operator page's panels for parts of the proxy that plug in from outside the
// admin package. Each is a small interface in Config; nil shows "not configured".
// GateLimits (ratelimits.go) fills in RateLimitState from the rate-limit gates;
// the account events fill in EventLog.

// RateLimitState is what the operator page shows of the rate limiter.
type RateLimitState interface {
	// RateLimitSnapshot returns the limiter's current state, one entry per
	// limited thing, for display. It must be cheap: it runs on every page view.
	RateLimitSnapshot(ctx context.Context) ([]RateLimitEntry, error)
}

// RateLimitEntry is one line of the rate-limit panel. No secrets.
type RateLimitEntry struct {
	// Subject is what is limited, e.g. "account alice" or "token endpoint".
	Subject string
	// State says where it stands, e.g. "12 of 100 requests left this minute".
	State string
	// BlockedUntil is when a block ends; zero when not blocked.
	BlockedUntil time.Time
}

// EventLog is what the operator page shows of the account events.
type EventLog interface {
	// RecentEvents returns up to limit of the newest events, newest first.
	RecentEvents(ctx context.Context, limit int) ([]EventEntry, error)
}

// EventEntry is one line of the events panel. Never a token.
type EventEntry struct {
	ID, Type, Account string
	Time              time.Time
	// Delivery is its delivery state, e.g. "delivered", "pending (3 attempts)",
	// "dropped".
	Delivery string
}

// recentEvents is how many events the page shows.
const recentEvents = 20

// panelTimeout bounds each panel's call, so a slow part does not hold the page.
const panelTimeout = 2 * time.Second

// panels is what the page shows besides the accounts.
type panels struct {
	StoreOK      bool
	Draining     bool
	RateLimits   []rateLimitRow
	RateLimitsOn bool
	RateLimitErr bool
	Events       []eventRow
	EventsOn     bool
	EventsErr    bool
}

type rateLimitRow struct{ Subject, State, BlockedUntil string }

type eventRow struct{ ID, Type, Account, Time, Delivery string }

// panels reads the store's health and the optional panels.
func (s *Server) panels(ctx context.Context) panels {
	var p panels
	p.Draining = s.draining.Load()
	pctx, cancel := context.WithTimeout(ctx, readyTimeout)
	p.StoreOK = s.cfg.Tokens.Ping(pctx) == nil
	cancel()
	if rl := s.cfg.RateLimits; rl != nil {
		p.RateLimitsOn = true
		pctx, cancel := context.WithTimeout(ctx, panelTimeout)
		entries, err := rl.RateLimitSnapshot(pctx)
		cancel()
		if err != nil {
			s.log.Warn("operator page: reading the rate-limit state failed", "error", err)
			p.RateLimitErr = true
		}
		for _, e := range entries {
			p.RateLimits = append(p.RateLimits, rateLimitRow{Subject: e.Subject, State: e.State, BlockedUntil: when(e.BlockedUntil)})
		}
	}
	if ev := s.cfg.EventLog; ev != nil {
		p.EventsOn = true
		pctx, cancel := context.WithTimeout(ctx, panelTimeout)
		entries, err := ev.RecentEvents(pctx, recentEvents)
		cancel()
		if err != nil {
			s.log.Warn("operator page: reading recent events failed", "error", err)
			p.EventsErr = true
		}
		for i, e := range entries {
			if i == recentEvents {
				break
			}
			p.Events = append(p.Events, eventRow{ID: e.ID, Type: e.Type, Account: e.Account, Time: when(e.Time), Delivery: e.Delivery})
		}
	}
	return p
}
