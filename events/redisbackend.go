package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of the Redis backend.
const (
	// DefaultStreamMaxLen caps the stream (MAXLEN ~): the events kept for polling.
	// Entries past it are trimmed even if undelivered, so it is far above what a
	// day of account events amounts to.
	DefaultStreamMaxLen = 100000
	// DefaultClaimIdle: an entry pending this long without its replica touching it
	// is claimed by another replica (the first is taken for dead).
	DefaultClaimIdle = time.Minute
	// droppedKeep bounds the set recording which recent events were dropped.
	droppedKeep = 10000
	// groupName is the consumer group of the webhook deliverers.
	groupName = "webhook"
	// fieldEvent is the stream entry's one field: the event's JSON without its id.
	fieldEvent = "e"
)

// RedisOptions configures a RedisBackend.
type RedisOptions struct {
	// Prefix is the key prefix (KEY_PREFIX). Keys: <prefix>{events}:stream, …:once,
	// …:dropped, …:lock:<name>; the {events} hash tag keeps them on one Cluster slot.
	Prefix string
	// Consumer names this replica in the consumer group (e.g. the pod name). It must
	// be unique among live replicas and should be the same after a restart, so that
	// the replica resumes its own pending entries at once.
	Consumer string
	// MaxLen caps the stream (default DefaultStreamMaxLen).
	MaxLen int64
	// ClaimIdle is XAUTOCLAIM's min idle time (default DefaultClaimIdle).
	ClaimIdle time.Duration
	Logger    *slog.Logger // nil: discarded
}

// RedisBackend keeps events in a Redis Stream read by one consumer group. It is
// safe for concurrent use.
type RedisBackend struct {
	c                                 redis.UniversalClient
	opts                              RedisOptions
	log                               *slog.Logger
	stream, once, dropped, lockPrefix string

	mu        sync.Mutex
	ownDone   bool   // this consumer's pending entries from before a restart were read
	ownCursor string // where reading them has got to
	claimFrom string // XAUTOCLAIM's cursor
}

// NewRedisBackend returns a backend on client with keys under opts.Prefix.
func NewRedisBackend(client redis.UniversalClient, opts RedisOptions) *RedisBackend {
	if opts.MaxLen <= 0 {
		opts.MaxLen = DefaultStreamMaxLen
	}
	if opts.ClaimIdle <= 0 {
		opts.ClaimIdle = DefaultClaimIdle
	}
	if opts.Consumer == "" {
		opts.Consumer = "proxy"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	base := opts.Prefix + "{events}:"
	return &RedisBackend{
		c: client, opts: opts, log: opts.Logger,
		stream: base + "stream", once: base + "once", dropped: base + "dropped", lockPrefix: base + "lock:",
		ownCursor: "0", claimFrom: "0-0",
	}
}

// appendScript: KEYS stream, once; ARGV account, once mark ("" for none), maxlen,
// event JSON. Adds the entry (and sets the mark) unless the account's mark equals
// the given one; returns the entry id or false.
var appendScript = redis.NewScript(`
if ARGV[2] ~= '' then
  if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then return false end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[4])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return id
`)

func (b *RedisBackend) append(ctx context.Context, e Event, once string) (Event, bool, error) {
	e.ID = ""
	raw, err := e.MarshalJSON()
	if err != nil {
		return e, false, err
	}
	res, err := appendScript.Run(ctx, b.c, []string{b.stream, b.once}, e.Account, once, b.opts.MaxLen, raw).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return e, false, nil
	case err != nil:
		return e, false, fmt.Errorf("events: XADD: %w", err)
	}
	id, ok := res.(string)
	if !ok {
		return e, false, fmt.Errorf("events: XADD answered %T", res)
	}
	e.ID = id
	return e, true, nil
}

func (b *RedisBackend) forget(ctx context.Context, account string) error {
	return b.c.HDel(ctx, b.once, account).Err()
}

// decode turns stream messages into events; entries that do not decode are
// reported and skipped (bad lists them, to be acknowledged).
func (b *RedisBackend) decode(msgs []redis.XMessage) (evs []Event, bad []string) {
	for _, m := range msgs {
		raw, _ := m.Values[fieldEvent].(string)
		var e Event
		if err := e.UnmarshalJSON([]byte(raw)); err != nil {
			b.log.Error("events: unreadable stream entry skipped", "id", m.ID, "error", err)
			bad = append(bad, m.ID)
			continue
		}
		e.ID = m.ID
		evs = append(evs, e)
	}
	return evs, bad
}

func (b *RedisBackend) list(ctx context.Context, after eventID, limit int) ([]Event, error) {
	start := "-"
	if after != (eventID{}) {
		start = "(" + after.String()
	}
	msgs, err := b.c.XRangeN(ctx, b.stream, start, "+", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("events: XRANGE: %w", err)
	}
	evs, _ := b.decode(msgs)
	return evs, nil
}

func (b *RedisBackend) recent(ctx context.Context, limit int) ([]Entry, error) {
	msgs, err := b.c.XRevRangeN(ctx, b.stream, "+", "-", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("events: XREVRANGE: %w", err)
	}
	evs, _ := b.decode(msgs)
	out := make([]Entry, len(evs))
	for i, e := range evs {
		out[i] = Entry{Event: e, State: StateNone}
	}
	if len(evs) == 0 {
		return out, nil
	}
	last, ok, err := b.lastDelivered(ctx)
	if err != nil || !ok {
		return out, err // no group: nothing is sent
	}
	oldest, newest := evs[len(evs)-1].ID, evs[0].ID
	pend, err := b.c.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: b.stream, Group: groupName, Start: oldest, End: newest, Count: int64(len(evs)),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("events: XPENDING: %w", err)
	}
	pending := make(map[string]bool, len(pend))
	for _, p := range pend {
		pending[p.ID] = true
	}
	members := make([]string, len(evs))
	for i, e := range evs {
		members[i] = e.ID
	}
	scores, err := b.c.ZMScore(ctx, b.dropped, members...).Result()
	if err != nil {
		return nil, fmt.Errorf("events: ZMSCORE: %w", err)
	}
	for i := range out {
		id, _ := parseID(out[i].ID)
		switch {
		case pending[out[i].ID] || last.less(id):
			out[i].State = StatePending
		case scores[i] != 0:
			out[i].State = StateDropped
		default:
			out[i].State = StateDelivered
		}
	}
	return out, nil
}

// lastDelivered is the group's last-delivered-id; ok=false when there is no group.
func (b *RedisBackend) lastDelivered(ctx context.Context) (eventID, bool, error) {
	groups, err := b.c.XInfoGroups(ctx, b.stream).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return eventID{}, false, nil
		}
		return eventID{}, false, fmt.Errorf("events: XINFO GROUPS: %w", err)
	}
	for _, g := range groups {
		if g.Name == groupName {
			id, _ := parseID(g.LastDeliveredID)
			return id, true, nil
		}
	}
	return eventID{}, false, nil
}

func (b *RedisBackend) startDelivery(ctx context.Context) error {
	// "$": events from before the webhook was configured are for polling only.
	err := b.c.XGroupCreateMkStream(ctx, b.stream, groupName, "$").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("events: XGROUP CREATE: %w", err)
	}
	return nil
}

// isNoGroup reports a group command refused because the consumer group is gone.
func isNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }

// recreateGroup makes the consumer group again after Redis lost it with its data (a
// restart without persistence, a flush), rather than failing for ever. It starts
// at the stream's beginning: whatever the stream holds now was emitted after the
// loss and is still to be delivered.
func (b *RedisBackend) recreateGroup(ctx context.Context) error {
	err := b.c.XGroupCreateMkStream(ctx, b.stream, groupName, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("events: XGROUP CREATE: %w", err)
	}
	b.log.Warn("events: the consumer group was gone (Redis lost its data); made it again")
	return nil
}

func (b *RedisBackend) fetch(ctx context.Context, limit int) ([]Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Event
	// 1. This consumer's own pending entries (a restart under the same name).
	if !b.ownDone {
		msgs, err := b.readGroup(ctx, b.ownCursor, limit)
		if err != nil {
			return nil, err
		}
		if len(msgs) == 0 {
			b.ownDone = true
		} else {
			b.ownCursor = msgs[len(msgs)-1].ID
		}
		out = b.collect(ctx, out, msgs)
	}
	// 2. Entries a dead replica left pending.
	if len(out) < limit {
		claim := &redis.XAutoClaimArgs{
			Stream: b.stream, Group: groupName, Consumer: b.opts.Consumer,
			MinIdle: b.opts.ClaimIdle, Start: b.claimFrom, Count: int64(limit - len(out)),
		}
		msgs, next, err := b.c.XAutoClaim(ctx, claim).Result()
		if isNoGroup(err) {
			if err := b.recreateGroup(ctx); err != nil {
				return nil, err
			}
			b.claimFrom = "0-0"
			msgs, next, err = nil, "0-0", nil // nothing is pending in a new group
		}
		if err != nil {
			return nil, fmt.Errorf("events: XAUTOCLAIM: %w", err)
		}
		b.claimFrom = next
		if len(msgs) > 0 {
			b.log.Info("events: claimed events another replica left undelivered", "count", len(msgs))
		}
		out = b.collect(ctx, out, msgs)
	}
	// 3. New entries.
	if len(out) < limit {
		msgs, err := b.readGroup(ctx, ">", limit-len(out))
		if err != nil {
			return nil, err
		}
		out = b.collect(ctx, out, msgs)
	}
	return out, nil
}

// collect decodes msgs onto out; entries trimmed away (no values) or unreadable
// are acknowledged, since nobody can ever deliver them.
func (b *RedisBackend) collect(ctx context.Context, out []Event, msgs []redis.XMessage) []Event {
	var gone []string
	var live []redis.XMessage
	for _, m := range msgs {
		if m.Values == nil {
			gone = append(gone, m.ID)
			continue
		}
		live = append(live, m)
	}
	evs, bad := b.decode(live)
	gone = append(gone, bad...)
	if len(gone) > 0 {
		b.log.Error("events: pending events were trimmed from the stream before delivery (raise the stream cap)", "count", len(gone))
		_ = b.c.XAck(ctx, b.stream, groupName, gone...).Err()
	}
	return append(out, evs...)
}

func (b *RedisBackend) readGroup(ctx context.Context, from string, count int) ([]redis.XMessage, error) {
	args := &redis.XReadGroupArgs{
		Group: groupName, Consumer: b.opts.Consumer, Streams: []string{b.stream, from},
		Count: int64(count), Block: -1, // never block: the caller waits on its own terms
	}
	res, err := b.c.XReadGroup(ctx, args).Result()
	if isNoGroup(err) {
		if err := b.recreateGroup(ctx); err != nil {
			return nil, err
		}
		res, err = b.c.XReadGroup(ctx, args).Result()
	}
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("events: XREADGROUP: %w", err)
	}
	if len(res) == 0 {
		return nil, nil
	}
	return res[0].Messages, nil
}

func (b *RedisBackend) finish(ctx context.Context, id string, state DeliveryState) error {
	_, err := b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		if state == StateDropped {
			p.ZAdd(ctx, b.dropped, redis.Z{Score: float64(idTime(id).UnixMilli()) + 1, Member: id})
			p.ZRemRangeByRank(ctx, b.dropped, 0, -droppedKeep-1)
		}
		p.XAck(ctx, b.stream, groupName, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("events: XACK: %w", err)
	}
	return nil
}

// keep re-claims the ids still pending for this consumer (XCLAIM … JUSTID), which
// resets their idle time without counting a delivery, so XAUTOCLAIM elsewhere
// leaves them alone. An id another replica claimed meanwhile (this one stalled
// past ClaimIdle) is not taken back: it is returned in lost, for the caller to
// let go, so one replica delivers it.
func (b *RedisBackend) keep(ctx context.Context, ids []string) (lost []string, _ error) {
	if len(ids) == 0 {
		return nil, nil
	}
	mine := make(map[string]bool, len(ids))
	from := "-"
	for {
		pend, err := b.c.XPendingExt(ctx, &redis.XPendingExtArgs{
			Stream: b.stream, Group: groupName, Consumer: b.opts.Consumer, Start: from, End: "+", Count: 1000,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("events: XPENDING: %w", err)
		}
		for _, p := range pend {
			mine[p.ID] = true
		}
		if len(pend) < 1000 {
			break
		}
		from = "(" + pend[len(pend)-1].ID
	}
	var held []string
	for _, id := range ids {
		if mine[id] {
			held = append(held, id)
		} else {
			lost = append(lost, id)
		}
	}
	if len(held) == 0 {
		return lost, nil
	}
	err := b.c.XClaimJustID(ctx, &redis.XClaimArgs{
		Stream: b.stream, Group: groupName, Consumer: b.opts.Consumer, MinIdle: 0, Messages: held,
	}).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("events: XCLAIM: %w", err)
	}
	return lost, nil
}

// tidy deletes the group's consumers that have nothing pending and have not read
// for idle: replicas gone (a rollout names new pods), whose names would otherwise
// pile up in the group. A consumer with pending entries is left for XAUTOCLAIM
// (deleting it would drop them); a live replica reads every poll interval, and one
// deleted by mistake is made again by its next read.
func (b *RedisBackend) tidy(ctx context.Context, idle time.Duration) (int, error) {
	consumers, err := b.c.XInfoConsumers(ctx, b.stream, groupName).Result()
	if err != nil {
		if isNoGroup(err) || strings.Contains(err.Error(), "no such key") {
			return 0, nil
		}
		return 0, fmt.Errorf("events: XINFO CONSUMERS: %w", err)
	}
	n := 0
	for _, c := range consumers {
		if c.Name == b.opts.Consumer || c.Pending > 0 || c.Idle < idle {
			continue
		}
		if err := b.c.XGroupDelConsumer(ctx, b.stream, groupName, c.Name).Err(); err != nil {
			return n, fmt.Errorf("events: XGROUP DELCONSUMER: %w", err)
		}
		n++
	}
	return n, nil
}

func (b *RedisBackend) oldestUndelivered(ctx context.Context) (time.Time, error) {
	last, ok, err := b.lastDelivered(ctx)
	if err != nil || !ok {
		return time.Time{}, err
	}
	var oldest time.Time
	sum, err := b.c.XPending(ctx, b.stream, groupName).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("events: XPENDING: %w", err)
	}
	if sum.Count > 0 {
		oldest = idTime(sum.Lower)
	}
	unread, err := b.c.XRangeN(ctx, b.stream, "("+last.String(), "+", 1).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("events: XRANGE: %w", err)
	}
	if len(unread) > 0 {
		if t := idTime(unread[0].ID); oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	return oldest, nil
}

func (b *RedisBackend) tryLock(ctx context.Context, name string, ttl time.Duration) (bool, error) {
	ok, err := b.c.SetNX(ctx, b.lockPrefix+name, b.opts.Consumer, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("events: lock %s: %w", name, err)
	}
	return ok, nil
}

// unlockScript deletes KEYS[1] if it still holds ARGV[1].
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

func (b *RedisBackend) unlock(ctx context.Context, name string) error {
	return unlockScript.Run(ctx, b.c, []string{b.lockPrefix + name}, b.opts.Consumer).Err()
}
