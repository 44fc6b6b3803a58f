package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
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

// ParseLimit parses "N/duration" (150/30s, 10/1s, 600/1m); a bare unit is one of
// it (1/s, 60/m, 100/h); "" is no limit.
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
	per = strings.TrimSpace(per)
	if per != "" && (per[0] < '0' || per[0] > '9') && per[0] != '.' {
		per = "1" + per
	}
	d, err := time.ParseDuration(per)
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
	// Usage returns the limits and the calls in the app-wide window now, for
	// display; it takes nothing. Its limits are valid even with an error.
	Usage(ctx context.Context) (BudgetUsage, error)
}

// windowScript: KEYS the app's window and the account's (ZSETs of call times in
// ms, one slot thanks to the hash tag); ARGV the app's limit and window (ms), the
// account's (limit 0: none) and a unique member. Time is Redis's, so replicas agree.
// A call is taken in both windows or in neither; the answer is 0 (taken) or the ms
// until the oldest call that fills a window leaves it.
var windowScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i = 1, 2 do
  local limit, win = tonumber(ARGV[2*i-1]), tonumber(ARGV[2*i])
  if limit > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - win)
    local n = redis.call('ZCARD', KEYS[i])
    if n >= limit then
      local first = redis.call('ZRANGE', KEYS[i], n - limit, n - limit, 'WITHSCORES')
      wait = math.max(wait, tonumber(first[2]) + win - now, 1)
    end
  end
end
if wait > 0 then return wait end
for i = 1, 2 do
  local limit, win = tonumber(ARGV[2*i-1]), tonumber(ARGV[2*i])
  if limit > 0 then
    redis.call('ZADD', KEYS[i], now, ARGV[5])
    redis.call('PEXPIRE', KEYS[i], win)
  end
end
return 0
`)

// RedisBudget is a Budget every replica shares: a sliding-window log on Redis
// (at most N calls in any period, a burst of N allowed, as Spotify's rolling window
// counts). A per-account limit, when set, must allow the call too, so one busy
// account cannot use the whole app's budget.
type RedisBudget struct {
	client          redis.UniversalClient
	key             string
	app, perAccount Limit
	seq             atomic.Uint64
	id              string
}

// NewRedisBudget returns the budget of app on client, with keys under prefix.
// Either limit may be zero (not enforced).
func NewRedisBudget(client redis.UniversalClient, prefix, app string, limit, perAccount Limit) *RedisBudget {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &RedisBudget{client: client, key: prefix + "{ratelimit:" + app + "}:budget", app: limit, perAccount: perAccount,
		id: hex.EncodeToString(b[:])}
}

// Take implements Budget.
func (b *RedisBudget) Take(ctx context.Context, account string) (time.Duration, error) {
	member := b.id + ":" + strconv.FormatUint(b.seq.Add(1), 10)
	ms, err := windowScript.Run(ctx, b.client, []string{b.key, b.key + ":" + account},
		b.app.N, held(b.app).Milliseconds(), b.perAccount.N, held(b.perAccount).Milliseconds(), member).Int64()
	if err != nil {
		return 0, fmt.Errorf("ratelimit: redis budget: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// usageScript: KEYS[1] the app's window; ARGV its window (ms). The calls in it now,
// by Redis's clock.
var usageScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')
`)

// Usage implements Budget.
func (b *RedisBudget) Usage(ctx context.Context) (BudgetUsage, error) {
	u := BudgetUsage{Limit: b.app, PerAccount: b.perAccount, Used: -1}
	if b.app.IsZero() {
		return u, nil
	}
	n, err := usageScript.Run(ctx, b.client, []string{b.key}, held(b.app).Milliseconds()).Int()
	if err != nil {
		return u, fmt.Errorf("ratelimit: redis budget: %w", err)
	}
	u.Used = n
	return u, nil
}

// MemoryBudget is the same sliding-window log in one process (the file store has
// one replica).
type MemoryBudget struct {
	clock           Clock
	app, perAccount Limit

	mu       sync.Mutex
	appLog   []time.Time
	accounts map[string][]time.Time
}

// maxBudgetAccounts bounds the per-account logs kept; past it, they are started
// afresh (a forgotten account gets a full burst again).
const maxBudgetAccounts = 100000

// NewMemoryBudget returns an in-process budget. Either limit may be zero; clock
// nil means the real clock.
func NewMemoryBudget(limit, perAccount Limit, clock Clock) *MemoryBudget {
	if clock == nil {
		clock = realClock{}
	}
	return &MemoryBudget{clock: clock, app: limit, perAccount: perAccount, accounts: map[string][]time.Time{}}
}

// held is how long a call counts against a limit: its period and 1% more, so calls
// that reach Spotify a little later or earlier than they were counted (a burst
// released at a window's edge) still fit its rolling window.
func held(l Limit) time.Duration { return l.Per + l.Per/100 }

// wait trims log to the window and returns the wait until a slot frees (0: free).
func wait(log []time.Time, l Limit, now time.Time) ([]time.Time, time.Duration) {
	cut := 0
	for cut < len(log) && !log[cut].After(now.Add(-held(l))) {
		cut++
	}
	log = log[cut:]
	if len(log) < l.N {
		return log, 0
	}
	return log, log[len(log)-l.N].Add(held(l)).Sub(now)
}

// Usage implements Budget.
func (b *MemoryBudget) Usage(context.Context) (BudgetUsage, error) {
	u := BudgetUsage{Limit: b.app, PerAccount: b.perAccount, Used: -1}
	if b.app.IsZero() {
		return u, nil
	}
	now := b.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.appLog, _ = wait(b.appLog, b.app, now)
	u.Used = len(b.appLog)
	return u, nil
}

// Take implements Budget.
func (b *MemoryBudget) Take(_ context.Context, account string) (time.Duration, error) {
	now := b.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	var d time.Duration
	var acc []time.Time
	if !b.app.IsZero() {
		b.appLog, d = wait(b.appLog, b.app, now)
	}
	if !b.perAccount.IsZero() {
		var da time.Duration
		acc, da = wait(b.accounts[account], b.perAccount, now)
		d = max(d, da)
	}
	if d > 0 {
		return d, nil
	}
	if !b.app.IsZero() {
		b.appLog = append(b.appLog, now)
	}
	if !b.perAccount.IsZero() {
		if _, ok := b.accounts[account]; !ok && len(b.accounts) >= maxBudgetAccounts {
			b.accounts = map[string][]time.Time{}
		}
		b.accounts[account] = append(acc, now)
	}
	return 0, nil
}
