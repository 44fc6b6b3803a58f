package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The probe lease of RedisBlocks (layout in redis.go). Lease times are the
// replicas' clocks, as the block's are; the key's own TTL is only a backstop.

// leaseScript: KEYS the block and probe keys; ARGV the until (ms) of the block
// that ended, owner, now (ms), the lease's end (ms), the key's TTL (ms). It
// answers {'blocked', block} when a later block is stored, {'released', until}
// when a probe after this block was answered, {'held', end} while another
// probe's lease for this block (or a later one) runs, else takes the lease:
// {'taken', end}. A lease left from an earlier block does not hold this one.
var leaseScript = redis.NewScript(`
local b = redis.call('GET', KEYS[1])
local ms = b and string.match(b, '^%d+')
if ms and tonumber(ms) > tonumber(ARGV[1]) then return {'blocked', b} end
local p = redis.call('GET', KEYS[2])
if p then
  local who, u, e = string.match(p, '^(%S+) (%d+) ?(%d*)$')
  if who == 'released' then
    if tonumber(u) >= tonumber(ARGV[1]) then return {'released', u} end
  elseif e and e ~= '' and tonumber(u) >= tonumber(ARGV[1]) and tonumber(e) > tonumber(ARGV[3]) then
    return {'held', e}
  end
end
redis.call('SET', KEYS[2], ARGV[2] .. ' ' .. ARGV[1] .. ' ' .. ARGV[4], 'PX', ARGV[5])
return {'taken', ARGV[4]}
`)

// finishScript: KEYS the block and probe keys; ARGV until (ms), owner, ok (1 or
// 0), the release marker's TTL (ms), channel, client id. ok with no later block
// stored marks the block released and publishes the release (once); otherwise it
// frees owner's lease, and only owner's. It returns 1 when it published.
var finishScript = redis.NewScript(`
local p = redis.call('GET', KEYS[2])
if ARGV[3] == '1' then
  local b = redis.call('GET', KEYS[1])
  local ms = b and string.match(b, '^%d+')
  if not (ms and tonumber(ms) > tonumber(ARGV[1])) then
    local u = p and string.match(p, '^released (%d+)$')
    if u and tonumber(u) >= tonumber(ARGV[1]) then return 0 end
    redis.call('SET', KEYS[2], 'released ' .. ARGV[1], 'PX', ARGV[4])
    redis.call('PUBLISH', ARGV[5], ARGV[6] .. ' released ' .. ARGV[1])
    return 1
  end
end
if p and string.sub(p, 1, #ARGV[2] + 1) == ARGV[2] .. ' ' then
  redis.call('DEL', KEYS[2])
end
return 0
`)

// ProbeKey is the probe lease key of app.
func (r *RedisBlocks) ProbeKey(app string) string { return r.prefix + "{ratelimit:" + app + "}:probe" }

// Lease implements Prober.
func (r *RedisBlocks) Lease(ctx context.Context, app string, until time.Time, owner string, ttl time.Duration) (Lease, error) {
	now := r.now()
	res, err := leaseScript.Run(ctx, r.client, []string{r.Key(app), r.ProbeKey(app)},
		until.UnixMilli(), owner, now.UnixMilli(), now.Add(ttl).UnixMilli(), (ttl + blockKeep).Milliseconds()).StringSlice()
	if err != nil {
		return Lease{}, fmt.Errorf("ratelimit: redis: probe lease: %w", err)
	}
	if len(res) != 2 {
		return Lease{}, fmt.Errorf("ratelimit: redis: probe lease: unreadable answer %q", res)
	}
	if res[0] == "blocked" {
		b, ok := parseBlock(res[1])
		if !ok {
			return Lease{}, fmt.Errorf("ratelimit: redis: unreadable block %q", res[1])
		}
		return Lease{Outcome: LeaseBlocked, Block: b}, nil
	}
	ms, err := strconv.ParseInt(res[1], 10, 64)
	if err != nil {
		return Lease{}, fmt.Errorf("ratelimit: redis: probe lease: unreadable answer %q", res)
	}
	switch res[0] {
	case "taken":
		return Lease{Outcome: LeaseTaken, Expires: time.UnixMilli(ms)}, nil
	case "held":
		return Lease{Outcome: LeaseHeld, Expires: time.UnixMilli(ms)}, nil
	case "released":
		return Lease{Outcome: LeaseReleased}, nil
	}
	return Lease{}, fmt.Errorf("ratelimit: redis: probe lease: unreadable answer %q", res)
}

// Finish implements Prober.
func (r *RedisBlocks) Finish(ctx context.Context, app string, until time.Time, owner string, ok bool) error {
	flag := 0
	if ok {
		flag = 1
	}
	err := finishScript.Run(ctx, r.client, []string{r.Key(app), r.ProbeKey(app)},
		until.UnixMilli(), owner, flag, blockKeep.Milliseconds(), r.channel, app).Err()
	if err != nil {
		return fmt.Errorf("ratelimit: redis: ending the probe: %w", err)
	}
	return nil
}
