package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/redissub"
)

// Redis layout (prefix is KEY_PREFIX):
//
//	{prefix}{ratelimit:<client id>}:block   STRING "<until, unix ms> <reason>", expires a minute after until
//	{prefix}{ratelimit:<client id>}:probe   STRING the probe lease, "<owner> <until ms> <lease end ms>", or
//	                                        "released <until ms>" once a probe after that block was answered (probe.go)
//	{prefix}ratelimit                       pub/sub channel; a message is "<client id> <until ms> <reason>" (a block)
//	                                        or "<client id> released <until ms>" (a release)
//
// shareScript: KEYS[1] the block key; ARGV until (unix ms), reason, TTL ms,
// channel, client id. It moves the block only later, publishes a change, and
// returns the block in force.
var shareScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local ms = tonumber(string.match(cur, '^%d+'))
  if ms and ms >= tonumber(ARGV[1]) then return cur end
end
local v = ARGV[1] .. ' ' .. ARGV[2]
redis.call('SET', KEYS[1], v, 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5] .. ' ' .. v)
return v
`)

// blockKeep is how long a block key outlives its end.
const blockKeep = time.Minute

// pingEvery: an idle subscription pings this often, so a dead connection is noticed.
const pingEvery = 15 * time.Second

// RedisBlocks is a Sharer on Redis (standalone, Sentinel or Cluster).
type RedisBlocks struct {
	client  redis.UniversalClient
	prefix  string
	channel string
	now     func() time.Time
}

// NewRedisBlocks returns a Sharer with keys and channel under prefix. now nil
// means time.Now (the TTL of the key is computed from it).
func NewRedisBlocks(client redis.UniversalClient, prefix string, now func() time.Time) *RedisBlocks {
	if now == nil {
		now = time.Now
	}
	return &RedisBlocks{client: client, prefix: prefix, channel: prefix + "ratelimit", now: now}
}

// Key is the block key of app.
func (r *RedisBlocks) Key(app string) string { return r.prefix + "{ratelimit:" + app + "}:block" }

// Share implements Sharer.
func (r *RedisBlocks) Share(ctx context.Context, app string, b Block) (Block, error) {
	ttl := b.Until.Sub(r.now()) + blockKeep
	v, err := shareScript.Run(ctx, r.client, []string{r.Key(app)},
		b.Until.UnixMilli(), b.Reason, ttl.Milliseconds(), r.channel, app).Text()
	if err != nil {
		return Block{}, fmt.Errorf("ratelimit: redis: sharing a block: %w", err)
	}
	got, ok := parseBlock(v)
	if !ok {
		return Block{}, fmt.Errorf("ratelimit: redis: unreadable block %q", v)
	}
	return got, nil
}

// Load returns app's stored block (zero when none).
func (r *RedisBlocks) Load(ctx context.Context, app string) (Block, error) {
	v, err := r.client.Get(ctx, r.Key(app)).Result()
	if errors.Is(err, redis.Nil) {
		return Block{}, nil
	}
	if err != nil {
		return Block{}, fmt.Errorf("ratelimit: redis: reading the block: %w", err)
	}
	b, _ := parseBlock(v)
	return b, nil
}

// Follow implements Sharer: it reads the stored block at every (re)subscription,
// so a block shared while this replica was disconnected is not missed. (A release
// missed meanwhile is learnt from the probe key at the next election.)
func (r *RedisBlocks) Follow(ctx context.Context, app string, fn func(Notice)) error {
	err := redissub.Follow(ctx, r.client, r.channel, pingEvery, redissub.Handlers{
		Subscribed: func() error {
			b, err := r.Load(ctx, app)
			if err != nil {
				return err
			}
			fn(Notice{Block: b})
			return nil
		},
		Message: func(payload string) {
			if n, ok := parseNotice(payload, app); ok {
				fn(n)
			}
		},
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("ratelimit: redis: %w", err)
	}
	return nil
}

// parseNotice reads a message of the channel about app.
func parseNotice(payload, app string) (Notice, bool) {
	id, rest, _ := strings.Cut(payload, " ")
	if id != app {
		return Notice{}, false
	}
	if ms, ok := strings.CutPrefix(rest, "released "); ok {
		n, err := strconv.ParseInt(ms, 10, 64)
		return Notice{Block: Block{Until: time.UnixMilli(n)}, Released: true}, err == nil
	}
	b, ok := parseBlock(rest)
	return Notice{Block: b}, ok
}

// parseBlock reads "<until ms> <reason>".
func parseBlock(v string) (Block, bool) {
	ms, reason, _ := strings.Cut(v, " ")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return Block{}, false
	}
	if !validReason(reason) {
		reason = ""
	}
	return Block{Until: time.UnixMilli(n), Reason: reason}, true
}
