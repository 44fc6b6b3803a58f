package tokenstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis layout (prefix: the key prefix, default DefaultKeyPrefix):
//
//	{prefix}{<account>}:token   HASH  v = version (integer), r = the codec's record bytes
//	{prefix}{<account>}:lock    STRING the refresh lock (bsm/redislock), TTL RedisLockerOptions.TTL
//	{prefix}accounts            ZSET  every account id, score 0 (the List index)
//	{prefix}invalidate          pub/sub channel; a message is "<account id> <publisher id>"
//	{prefix}summary             STRING the account gauges' summary (JSON), from one replica
//	{prefix}summary:claim       STRING which replica computes the next summary, TTL ≈ the scan interval
//	{prefix}validate:claim      STRING the replica validating accounts (its owner id), TTL ≈ the pass interval
//
// The braces are a Cluster hash tag: an account's record and lock live in one slot,
// so the scripts that touch them run on one node. The index has a slot of its own;
// it is maintained by separate commands after the record's write and before its
// removal, so it may name accounts whose record is gone (List skips them) but never
// misses a stored record unless a command to it failed (the next Put repairs it).
//
// A deleted record leaves a tombstone, the hash with only its version, for
// tombstoneTTL: versions keep counting up across a delete and a re-create, so a
// refresh that read the old record cannot overwrite the new one (no ABA).

// DefaultKeyPrefix is the default key prefix of the Redis objects.
const DefaultKeyPrefix = "spotify-token-proxy:"

// tombstoneTTL: how long a deleted record's version is remembered; far longer than
// any refresh (RefreshTimeout) that may still hold a version read before the delete.
const tombstoneTTL = 24 * time.Hour

type redisKeys struct{ prefix string }

func newRedisKeys(prefix string) redisKeys {
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	return redisKeys{prefix: prefix}
}

func (k redisKeys) record(account string) string { return k.prefix + "{" + account + "}:token" }
func (k redisKeys) lock(account string) string   { return k.prefix + "{" + account + "}:lock" }
func (k redisKeys) index() string                { return k.prefix + "accounts" }
func (k redisKeys) channel() string              { return k.prefix + "invalidate" }
func (k redisKeys) summary() string              { return k.prefix + "summary" }
func (k redisKeys) summaryClaim() string         { return k.prefix + "summary:claim" }
func (k redisKeys) validateClaim() string        { return k.prefix + "validate:claim" }

// putScript: KEYS[1] record; ARGV expect, new version, record bytes, "1" when
// plaintext records are refused (a key is set and no migration runs), account.
// Returns {1, version} when written, {0, current version} on a conflict, and {2,
// tombstone version} when the record is absent but its versions continue past a
// delete (the caller re-encodes with that version + 1 and tries again). A stored
// record that is not this build's (not JSON, an unknown format, a plaintext record
// naming another account, a version field that disagrees, or a plaintext record
// where records must be sealed) is an error and is never overwritten. A sealed record
// (format 2) shows only its version and key id: one tampered with, sealed with
// another key or copied from another account cannot be told apart here, but no
// caller can hold its version without opening it.
var putScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'v', 'r')
local v = 0
if cur[1] then
  v = tonumber(cur[1])
  if not v then return redis.error_reply('ERR tokenstore: corrupt record: the version field is not a number') end
elseif cur[2] then
  return redis.error_reply('ERR tokenstore: corrupt record: no version field')
end
if cur[2] then
  local ok, doc = pcall(cjson.decode, cur[2])
  if not ok or type(doc) ~= 'table' then
    return redis.error_reply('ERR tokenstore: corrupt record: invalid JSON')
  end
  local f = doc['format']
  if f == 1 then
    if doc['account'] ~= ARGV[5] then
      return redis.error_reply('ERR tokenstore: corrupt record: the record names another account')
    end
    if ARGV[4] == '1' and type(doc['sealed']) ~= 'table' then
      return redis.error_reply('ERR tokenstore: corrupt record: plaintext record refused: an encryption key is configured')
    end
  elseif f ~= 2 then
    return redis.error_reply('ERR tokenstore: corrupt record: record format ' .. tostring(f) .. ', this build reads formats 1 and 2')
  end
  if doc['version'] ~= v then
    return redis.error_reply('ERR tokenstore: corrupt record: the record version disagrees with the version field')
  end
end
local live = 0
if cur[2] then live = v end
if live ~= tonumber(ARGV[1]) then return {0, live} end
if tonumber(ARGV[2]) ~= v + 1 then return {2, v} end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'r', ARGV[3])
if not cur[2] and cur[1] then redis.call('PERSIST', KEYS[1]) end
return {1, v + 1}
`)

// deleteScript: KEYS[1] record; ARGV tombstone TTL in ms. Leaves the version.
var deleteScript = redis.NewScript(`
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return 0 end
if t ~= 'hash' then return redis.call('DEL', KEYS[1]) end
if redis.call('HEXISTS', KEYS[1], 'r') == 0 then return 0 end
if not tonumber(redis.call('HGET', KEYS[1], 'v')) then return redis.call('DEL', KEYS[1]) end
redis.call('HDEL', KEYS[1], 'r')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`)

// RedisStore is a Store shared by every replica, on Redis (standalone, Sentinel or
// Cluster). Put is a compare-and-set in a Lua script on the record's version.
// It is safe for concurrent use.
type RedisStore struct {
	client redis.UniversalClient
	keys   redisKeys
	codec  *Codec
}

var _ SharedStore = (*RedisStore)(nil)

// NewRedisStore returns a store on client with keys under prefix (empty:
// DefaultKeyPrefix). A nil codec stores secrets in plain text.
func NewRedisStore(client redis.UniversalClient, prefix string, codec *Codec) *RedisStore {
	if codec == nil {
		codec = &Codec{}
	}
	return &RedisStore{client: client, keys: newRedisKeys(prefix), codec: codec}
}

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, account string) (Record, error) {
	if !ValidAccount(account) {
		return Record{}, fmt.Errorf("%w: %q", ErrBadAccount, account)
	}
	key := s.keys.record(account)
	vals, err := s.client.HMGet(ctx, key, "v", "r").Result()
	if err != nil {
		return Record{}, s.redisErr("reading", account, key, err)
	}
	return s.decode(account, vals[0], vals[1])
}

// decode turns the v and r fields of a record hash into a Record.
func (s *RedisStore) decode(account string, v, r any) (Record, error) {
	data, ok := r.(string)
	if !ok {
		return Record{}, ErrNotFound
	}
	vs, _ := v.(string)
	version, err := strconv.ParseInt(vs, 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("%w: account %q: the version field %q is not a number", ErrCorrupt, account, vs)
	}
	rec, err := s.codec.Decode(account, []byte(data))
	if err != nil {
		return Record{}, err
	}
	if rec.Version != version {
		return Record{}, fmt.Errorf("%w: account %q: the record says version %d, its version field %d (written by something other than this store)", ErrCorrupt, account, rec.Version, version)
	}
	return rec, nil
}

// Put implements Store. The record is written by a script that compares the stored
// version with expect; the account index is updated afterwards by a separate,
// idempotent ZADD (the index lives in another Cluster slot). If only that ZADD
// fails, Put returns an error although the record was written: a retry finds the
// new version (a conflict), and the next successful Put indexes the account.
func (s *RedisStore) Put(ctx context.Context, rec Record, expect int64) (Record, error) {
	if !ValidAccount(rec.Account) {
		return Record{}, fmt.Errorf("%w: %q", ErrBadAccount, rec.Account)
	}
	key := s.keys.record(rec.Account)
	next := expect + 1
	for attempt := 0; ; attempt++ {
		rec.Version = next
		data, err := s.codec.Encode(rec)
		if err != nil {
			return Record{}, err
		}
		refuse := "0"
		if s.codec.refusesPlaintext() {
			refuse = "1"
		}
		res, err := putScript.Run(ctx, s.client, []string{key}, expect, next, data, refuse, rec.Account).Int64Slice()
		if err != nil {
			return Record{}, s.redisErr("writing", rec.Account, key, err)
		}
		if len(res) != 2 {
			return Record{}, fmt.Errorf("tokenstore: redis: writing account %q: unexpected script reply %v", rec.Account, res)
		}
		switch {
		case res[0] == 1:
			if err := s.client.ZAdd(ctx, s.keys.index(), redis.Z{Member: rec.Account}).Err(); err != nil {
				return Record{}, fmt.Errorf("tokenstore: redis: account %q was stored (version %d) but adding it to the account index failed: %w", rec.Account, next, err)
			}
			return rec, nil
		case res[0] == 2 && attempt < 3:
			next = res[1] + 1 // re-created after a delete: versions continue
		default:
			return Record{}, fmt.Errorf("%w: account %q is at version %d, expected %d", ErrVersionConflict, rec.Account, res[1], expect)
		}
	}
}

// Delete implements Store. The account leaves the index first, then the record
// (keeping a tombstone), so a concurrent re-creation is never left unindexed.
func (s *RedisStore) Delete(ctx context.Context, account string) error {
	if !ValidAccount(account) {
		return fmt.Errorf("%w: %q", ErrBadAccount, account)
	}
	if err := s.client.ZRem(ctx, s.keys.index(), account).Err(); err != nil {
		return s.redisErr("deleting", account, s.keys.index(), err)
	}
	key := s.keys.record(account)
	if err := deleteScript.Run(ctx, s.client, []string{key}, tombstoneTTL.Milliseconds()).Err(); err != nil {
		return s.redisErr("deleting", account, key, err)
	}
	return nil
}

// listBatch is how many index entries List reads per round trip when limit is not set.
const listBatch = 500

// List implements Store. It pages through the index in account order; entries
// whose record is gone are skipped, records that cannot be decoded are returned
// with Status "".
func (s *RedisStore) List(ctx context.Context, cursor string, limit int) ([]Record, string, error) {
	var out []Record
	from := cursor
	for {
		want := listBatch
		if limit > 0 {
			want = limit - len(out) + 1 // one more tells whether another page exists
		}
		lower := "-"
		if from != "" {
			lower = "(" + from
		}
		ids, err := s.client.ZRangeByLex(ctx, s.keys.index(), &redis.ZRangeBy{Min: lower, Max: "+", Count: int64(want)}).Result()
		if err != nil {
			return nil, "", fmt.Errorf("tokenstore: redis: listing accounts: %w", err)
		}
		if len(ids) == 0 {
			return out, "", nil
		}
		cmds := make([]*redis.SliceCmd, len(ids))
		_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids {
				cmds[i] = p.HMGet(ctx, s.keys.record(id), "v", "r")
			}
			return nil
		})
		if err != nil && !hasOnlyCommandErrors(cmds) {
			return nil, "", fmt.Errorf("tokenstore: redis: listing accounts: %w", err)
		}
		for i, id := range ids {
			from = id
			vals, err := cmds[i].Result()
			var rec Record
			switch {
			case err != nil: // e.g. WRONGTYPE: undecodable, like a corrupt record
				rec = Record{Account: id}
			default:
				rec, err = s.decode(id, vals[0], vals[1])
				if errors.Is(err, ErrNotFound) {
					continue // index entry of a deleted record
				}
				if err != nil {
					rec = Record{Account: id}
				}
			}
			if limit > 0 && len(out) == limit {
				return out, out[limit-1].Account, nil
			}
			out = append(out, rec)
		}
		if len(ids) < want {
			return out, "", nil
		}
	}
}

// hasOnlyCommandErrors reports whether every failed command failed with a Redis
// error reply (which concerns that key only) rather than a connection problem.
func hasOnlyCommandErrors(cmds []*redis.SliceCmd) bool {
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			var re redis.Error
			if !errors.As(err, &re) || err == redis.Nil {
				return false
			}
		}
	}
	return true
}

// Ping implements Store.
func (s *RedisStore) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("tokenstore: redis: %w", err)
	}
	return nil
}

// redisErr describes a failed command; a key of the wrong type is a corrupt record
// (something else wrote it), reported and never overwritten.
func (s *RedisStore) redisErr(op, account, key string, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "WRONGTYPE") {
		return fmt.Errorf("%w: account %q: key %s is not a hash as this build stores records; it was left as it is", ErrCorrupt, account, key)
	}
	if _, detail, ok := strings.Cut(msg, "tokenstore: corrupt record: "); ok {
		// Redis may append the script's location to the message.
		detail, _, _ = strings.Cut(detail, " script:")
		return fmt.Errorf("%w: account %q: key %s: %s; it was left as it is", ErrCorrupt, account, key, detail)
	}
	return fmt.Errorf("tokenstore: redis: %s account %q: %w", op, account, err)
}
