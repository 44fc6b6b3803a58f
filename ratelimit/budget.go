package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Limit is "at most N calls in any Per", with a burst of N (RATE_LIMIT=150/30s).
type Limit struct {
	N   int
	Per time.Duration
}

// IsZero reports whether no limit is set.
func (l Limit) IsZero() bool { return l.N == 0 }

func (l Limit) String() string {
	if l.IsZero() {
		return ""
	}
	return strconv.Itoa(l.N) + "/" + l.Per.String()
}

// ParseLimit parses "N/duration" (150/30s, 10/1s, 600/1m); "" is no limit.
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Limit{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || count < 1 {
		return Limit{}, fmt.Errorf("%q: want calls/period with a positive whole number of calls, e.g. 150/30s", s)
	}
	d, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || d < time.Millisecond {
		return Limit{}, fmt.Errorf("%q: the period must be a duration of at least 1ms, e.g. 150/30s", s)
	}
	return Limit{N: count, Per: d}, nil
}

// Budget is a shared allowance of calls to Spotify.
type Budget interface {
	// Take takes one call for account and returns 0, or takes nothing and returns
	// how long until one may be taken.
	Take(ctx context.Context, account string) (time.Duration, error)
}

// RedisBudget is a Budget every replica shares: a GCRA (burst N) on Redis,
// through github.com/go-redis/redis_rate. A per-account limit, when set, is taken
// first, so one busy account cannot use the whole app's budget.
type RedisBudget struct {
	lim             *redis_rate.Limiter
	key             string
	app, perAccount redis_rate.Limit
}

// NewRedisBudget returns the budget of app on client, with keys under prefix.
// Either limit may be zero (not enforced).
func NewRedisBudget(client redis.UniversalClient, prefix, app string, limit, perAccount Limit) *RedisBudget {
	return &RedisBudget{
		lim: redis_rate.NewLimiter(client), key: prefix + "{ratelimit:" + app + "}:budget",
		app: gcra(limit), perAccount: gcra(perAccount),
	}
}

func gcra(l Limit) redis_rate.Limit { return redis_rate.Limit{Rate: l.N, Burst: l.N, Period: l.Per} }

// Take implements Budget.
func (b *RedisBudget) Take(ctx context.Context, account string) (time.Duration, error) {
	if !b.perAccount.IsZero() {
		res, err := b.lim.Allow(ctx, b.key+":"+account, b.perAccount)
		if err != nil {
			return 0, fmt.Errorf("ratelimit: redis budget: %w", err)
		}
		if res.Allowed == 0 {
			return max(res.RetryAfter, time.Millisecond), nil
		}
	}
	if b.app.IsZero() {
		return 0, nil
	}
	res, err := b.lim.Allow(ctx, b.key, b.app)
	if err != nil {
		return 0, fmt.Errorf("ratelimit: redis budget: %w", err)
	}
	if res.Allowed == 0 {
		return max(res.RetryAfter, time.Millisecond), nil
	}
	return 0, nil
}

// MemoryBudget is a Budget of one process (the file store has one replica), on
// golang.org/x/time/rate token buckets of burst N refilled at N per period.
type MemoryBudget struct {
	clock      Clock
	app        *rate.Limiter // nil: no app limit
	perAccount Limit

	mu       sync.Mutex
	accounts map[string]*rate.Limiter
}

// maxBudgetAccounts bounds the per-account limiters kept; past it, the map is
// started afresh (a forgotten account gets a full burst again).
const maxBudgetAccounts = 100000

// NewMemoryBudget returns an in-process budget. Either limit may be zero; clock
// nil means the real clock.
func NewMemoryBudget(limit, perAccount Limit, clock Clock) *MemoryBudget {
	if clock == nil {
		clock = realClock{}
	}
	b := &MemoryBudget{clock: clock, perAccount: perAccount, accounts: map[string]*rate.Limiter{}}
	if !limit.IsZero() {
		b.app = bucket(limit, clock.Now())
	}
	return b
}

func bucket(l Limit, now time.Time) *rate.Limiter {
	lim := rate.NewLimiter(rate.Limit(float64(l.N)/l.Per.Seconds()), l.N)
	lim.SetLimitAt(now, lim.Limit()) // start full at now, on the injected clock
	return lim
}

// Take implements Budget.
func (b *MemoryBudget) Take(_ context.Context, account string) (time.Duration, error) {
	now := b.clock.Now()
	var acc *rate.Limiter
	if !b.perAccount.IsZero() {
		b.mu.Lock()
		acc = b.accounts[account]
		if acc == nil {
			if len(b.accounts) >= maxBudgetAccounts {
				b.accounts = map[string]*rate.Limiter{}
			}
			acc = bucket(b.perAccount, now)
			b.accounts[account] = acc
		}
		b.mu.Unlock()
	}
	var reserved []*rate.Reservation
	for _, lim := range []*rate.Limiter{acc, b.app} {
		if lim == nil {
			continue
		}
		r := lim.ReserveN(now, 1)
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			for _, prev := range reserved {
				prev.CancelAt(now)
			}
			return d, nil
		}
		reserved = append(reserved, r)
	}
	return 0, nil
}
