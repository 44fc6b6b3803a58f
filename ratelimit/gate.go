package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

// Clock is the time source of a Gate. After must return a channel that receives
// once d has passed.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// ReasonProxyRateLimited is the reason of the proxy's own 429 when Spotify gave none.
const ReasonProxyRateLimited = "PROXY_RATE_LIMITED"

// Block is a rate-limit block: no call to Spotify before Until.
type Block struct {
	Until  time.Time
	Reason string // Spotify's reason, such as QUOTA_EXCEEDED, or ""
}

// Config configures a Gate.
type Config struct {
	// App is the Spotify client id whose calls the gate holds.
	App string
	// MaxWait: a request waits for a block or budget slot that frees within this;
	// later ones are rejected at once. Zero: never wait.
	MaxWait time.Duration
	// ReleaseInterval paces the requests released after a block: one per interval.
	// Zero means 20ms.
	ReleaseInterval time.Duration
	// Sharer shares blocks with the other replicas; nil keeps them in process.
	Sharer Sharer
	// Prober elects one probe among all replicas when a block ends (probe.go);
	// nil: each replica sends its own probe.
	Prober Prober
	// ProbeLease is how long an elected probe holds the other replicas before one
	// of them may probe instead (its replica may have died). Zero means 10s.
	ProbeLease time.Duration
	// Budget is the optional shared call budget; nil: none (no store round trip).
	Budget Budget
	// ShareTimeout bounds recording a block in the store. Zero means 1s.
	ShareTimeout time.Duration
	Clock        Clock // default: the real clock
	Metrics      *metrics.Metrics
	Logger       *slog.Logger
}

// Rejected is the answer for a request that may not call Spotify now.
type Rejected struct {
	RetryAfter time.Duration // until the block ends or a budget slot frees
	Reason     string        // Spotify's reason carried over, or ReasonProxyRateLimited
	Cause      string        // metrics.CauseUpstream429 or metrics.CauseBudget
}

func (r *Rejected) Error() string {
	return fmt.Sprintf("ratelimit: %s (%s); retry after %s", r.Reason, r.Cause, r.RetryAfter)
}

// Pass is an admitted request. Hand it back to Done with the status Spotify
// answered.
type Pass struct {
	probe  uint64    // non-zero: this request goes first after a block
	until  time.Time // probe: the end of the block it probes
	leased bool      // probe: elected through the Prober, which hears its answer
}

// Probe reports whether the request is the first one after a block.
func (p Pass) Probe() bool { return p.probe != 0 }

type phase uint8

const (
	phaseOpen    phase = iota // calls go
	phaseBlocked              // no call before block.Until; then one probe
	phaseProbing              // the probe is out (here or on another replica); the others wait for its answer
	phasePacing               // released one per ReleaseInterval until pacingEnd
)

// Gate holds one app's calls to Spotify during a block and within its budget.
// It is safe for concurrent use; when no block is known and no budget is set,
// Admit costs one atomic load.
type Gate struct {
	cfg    Config
	id     string // this gate's name in probe leases
	clock  Clock
	m      *metrics.Metrics
	log    *slog.Logger
	active atomic.Bool // phase != phaseOpen

	mu        sync.Mutex
	phase     phase
	block     Block
	changed   chan struct{} // closed and replaced on every change of phase or block
	waiting   int           // requests parked in wait
	probeID   uint64
	remote    time.Time // probing: another replica's probe holds the lease until then (zero: the probe is here)
	nextSlot  time.Time // pacing: the next free release slot
	pacingEnd time.Time // pacing: when the backlog of waiters has been released
}

// NewGate returns a gate for cfg.App.
func NewGate(cfg Config) *Gate {
	if cfg.ReleaseInterval <= 0 {
		cfg.ReleaseInterval = 20 * time.Millisecond
	}
	if cfg.ShareTimeout <= 0 {
		cfg.ShareTimeout = time.Second
	}
	if cfg.ProbeLease <= 0 {
		cfg.ProbeLease = 10 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Gate{cfg: cfg, id: newGateID(), clock: cfg.Clock, m: cfg.Metrics, log: cfg.Logger, changed: make(chan struct{})}
}

// Admit decides whether a request for account may call Spotify now, waiting when
// Config allows it. It returns a *Rejected error when the request must be answered
// 429, or ctx's error when the caller went away while waiting.
func (g *Gate) Admit(ctx context.Context, account string) (Pass, error) {
	var p Pass
	if g.active.Load() {
		var err error
		if p, err = g.wait(ctx); err != nil {
			return Pass{}, err
		}
	}
	if g.cfg.Budget != nil {
		if err := g.spend(ctx, account); err != nil {
			g.Done(p, 0) // a probe that does not go leaves the probing to the next request
			return Pass{}, err
		}
	}
	return p, nil
}

// park waits, counted among the waiting requests, until wake is closed, timer
// fires or ctx ends (its error); a nil channel never comes. g.mu is held on entry
// and on return, and released meanwhile.
func (g *Gate) park(ctx context.Context, wake <-chan struct{}, timer <-chan time.Time) error {
	g.waiting++
	g.mu.Unlock()
	var err error
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-wake:
	case <-timer:
	}
	g.mu.Lock()
	g.waiting--
	return err
}

// wait is Admit's slow path: a block is known, being probed or being released.
func (g *Gate) wait(ctx context.Context) (Pass, error) {
	start := g.clock.Now()
	waited := false
	g.mu.Lock()
	for {
		now := g.clock.Now()
		var timer <-chan time.Time
		switch g.phase {
		case phaseOpen:
			g.mu.Unlock()
			return g.admitted(start, now, waited, Pass{}), nil
		case phaseBlocked:
			if !now.Before(g.block.Until) {
				if p, ok := g.elect(ctx); ok {
					g.mu.Unlock()
					return g.admitted(start, g.clock.Now(), waited, p), nil
				}
				continue
			}
			remaining := g.block.Until.Sub(now)
			if now.Sub(start)+remaining > g.cfg.MaxWait {
				reason := g.block.Reason
				g.mu.Unlock()
				if reason == "" {
					reason = ReasonProxyRateLimited
				}
				g.m.RateLimitedRequest(metrics.OutcomeRejected, metrics.CauseUpstream429)
				return Pass{}, &Rejected{RetryAfter: remaining, Reason: reason, Cause: metrics.CauseUpstream429}
			}
			timer = g.clock.After(remaining)
		case phaseProbing:
			// Wait for the probe's answer; another replica's only as long as its lease.
			if !g.remote.IsZero() {
				if !now.Before(g.remote) {
					g.phase = phaseBlocked // the lease ended unanswered: elect again
					continue
				}
				timer = g.clock.After(g.remote.Sub(now))
			}
		case phasePacing:
			if !now.Before(g.pacingEnd) && !now.Before(g.nextSlot) {
				g.phase = phaseOpen
				g.active.Store(false)
				g.broadcast()
				continue
			}
			slot := g.nextSlot
			if slot.Before(now) {
				slot = now
			}
			g.nextSlot = slot.Add(g.cfg.ReleaseInterval)
			if !slot.After(now) {
				g.mu.Unlock()
				return g.admitted(start, now, waited, Pass{}), nil
			}
			waited = true
			if err := g.park(ctx, nil, g.clock.After(slot.Sub(now))); err != nil {
				g.mu.Unlock()
				return Pass{}, err
			}
			if g.phase == phasePacing || g.phase == phaseOpen {
				g.mu.Unlock()
				return g.admitted(start, g.clock.Now(), waited, Pass{}), nil
			}
			continue // a new block came while this request waited for its slot
		}
		waited = true
		if err := g.park(ctx, g.changed, timer); err != nil {
			g.mu.Unlock()
			return Pass{}, err
		}
	}
}

func (g *Gate) admitted(start, now time.Time, waited bool, p Pass) Pass {
	if waited {
		g.m.RateLimitedRequest(metrics.OutcomeWaited, metrics.CauseUpstream429)
		g.m.RateLimitWaited(now.Sub(start))
	}
	return p
}

// spend takes a slot of the budget, waiting for one within MaxWait.
func (g *Gate) spend(ctx context.Context, account string) error {
	start := g.clock.Now()
	waited := false
	for {
		d, err := g.cfg.Budget.Take(ctx, account)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Fail open: a budget the store cannot keep must not stop the traffic.
			g.m.StoreError(metrics.OpRateLimit)
			g.log.Warn("rate limit budget unavailable; the request goes without it", "error", err)
			return nil
		}
		now := g.clock.Now()
		if d <= 0 {
			if waited {
				g.m.RateLimitedRequest(metrics.OutcomeWaited, metrics.CauseBudget)
				g.m.RateLimitWaited(now.Sub(start))
			}
			return nil
		}
		if now.Sub(start)+d > g.cfg.MaxWait {
			g.m.RateLimitedRequest(metrics.OutcomeRejected, metrics.CauseBudget)
			return &Rejected{RetryAfter: d, Reason: ReasonProxyRateLimited, Cause: metrics.CauseBudget}
		}
		waited = true
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-g.clock.After(d):
		}
	}
}

// Done reports how Spotify answered an admitted request: its status, or 0 when
// none came (connection error, the caller left, the request was not sent). Only
// the probe's answer matters: a 429 keeps the block (Record renews it), any other
// answer releases the waiting requests at the paced rate (on every replica, when
// the probe was elected through the Prober), and no answer lets the next request
// probe.
func (g *Gate) Done(p Pass, status int) {
	if p.probe == 0 {
		return
	}
	if p.leased {
		g.finish(p, status) // first, so the lease is free when this replica elects again
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.phase != phaseProbing || g.probeID != p.probe {
		return // a block or a release arrived meanwhile
	}
	if status == 0 || status == 429 {
		g.phase = phaseBlocked
		g.broadcast()
		return
	}
	g.release()
}

// release starts the paced release of the waiting requests; g.mu is held.
func (g *Gate) release() {
	now := g.clock.Now()
	g.phase = phasePacing
	g.remote = time.Time{}
	g.nextSlot = now
	g.pacingEnd = now.Add(time.Duration(g.waiting) * g.cfg.ReleaseInterval)
	g.broadcast()
}

// Blocked returns the block known to this replica.
func (g *Gate) Blocked() Block {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.block
}

func (g *Gate) broadcast() {
	close(g.changed)
	g.changed = make(chan struct{})
}
