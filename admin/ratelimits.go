package admin

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
)

// GateLimits shows the proxy's rate-limit gates (one per Spotify app) on the
// operator page: per client id a line with the gate's phase (open, blocked,
// probing, releasing), the block's reason and time left, and a line with the
// budget's use when a budget is set. The client id is not a secret; nothing else
// of the app is shown.
func GateLimits(gates ...*ratelimit.Gate) RateLimitState { return gateLimits(gates) }

type gateLimits []*ratelimit.Gate

// RateLimitSnapshot implements RateLimitState. A budget whose use cannot be read
// says so on its line; the block's line is shown all the same.
func (gl gateLimits) RateLimitSnapshot(ctx context.Context) ([]RateLimitEntry, error) {
	var out []RateLimitEntry
	for _, g := range gl {
		s, err := g.Snapshot(ctx)
		out = append(out, gateEntry(s))
		if s.Budget != nil {
			out = append(out, RateLimitEntry{Subject: "budget of app " + s.App, State: budgetState(*s.Budget, err)})
		}
	}
	return out, nil
}

func gateEntry(s ratelimit.Snapshot) RateLimitEntry {
	e := RateLimitEntry{Subject: "app " + s.App}
	reason := s.Block.Reason
	if reason == "" {
		reason = ratelimit.ReasonProxyRateLimited
	}
	switch {
	case s.Phase == ratelimit.PhaseBlocked && s.Remaining > 0:
		e.State = fmt.Sprintf("blocked (%s): %s left", reason, seconds(s.Remaining))
		e.BlockedUntil = s.Block.Until
	case s.Phase == ratelimit.PhaseBlocked:
		e.State = fmt.Sprintf("block (%s) ended: the next request probes Spotify", reason)
	case s.Phase == ratelimit.PhaseProbing && s.ProbeElsewhere:
		e.State = "probing: another replica's request tests Spotify"
	case s.Phase == ratelimit.PhaseProbing:
		e.State = "probing: a request of this replica tests Spotify"
	case s.Phase == ratelimit.PhaseReleasing:
		e.State = "releasing: the waiting requests go one per " + s.ReleaseInterval.String()
	default:
		e.State = "open"
	}
	if s.Waiting > 0 && s.Phase != ratelimit.PhaseOpen {
		e.State += fmt.Sprintf("; %d waiting", s.Waiting)
	}
	return e
}

func budgetState(u ratelimit.BudgetUsage, err error) string {
	var st string
	switch {
	case !u.Limit.IsZero() && u.Used >= 0:
		st = fmt.Sprintf("%d of %d calls used in the last %s", u.Used, u.Limit.N, u.Limit.Per)
	case !u.Limit.IsZero():
		st = fmt.Sprintf("%d calls per %s", u.Limit.N, u.Limit.Per)
	}
	if !u.PerAccount.IsZero() {
		if st != "" {
			st += "; "
		}
		st += fmt.Sprintf("each account at most %d per %s", u.PerAccount.N, u.PerAccount.Per)
	}
	if err != nil {
		st += " (its use could not be read)"
	}
	return st
}

// seconds shows d rounded up to whole seconds, as Retry-After counts.
func seconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 60 {
		return strconv.FormatInt(s, 10) + "s"
	}
	return (time.Duration(s) * time.Second).String()
}
