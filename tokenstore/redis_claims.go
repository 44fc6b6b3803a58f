package tokenstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The claims and the summary that the replicas sharing a RedisStore coordinate
// their background work with (see the key layout in redis.go).

// ClaimSummary implements SummaryStore with SET NX PX: the first replica to ask in
// each interval scans the accounts.
func (s *RedisStore) ClaimSummary(ctx context.Context, ttl time.Duration) (bool, error) {
	err := s.client.SetArgs(ctx, s.keys.summaryClaim(), "1", redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil):
		return false, nil
	default:
		return false, fmt.Errorf("tokenstore: redis: summary claim: %w", err)
	}
}

type summaryJSON struct {
	OK             int       `json:"ok"`
	ReauthRequired int       `json:"reauth_required"`
	Expiring       int       `json:"expiring,omitempty"`
	OldestAuth     time.Time `json:"oldest_authorized_at,omitzero"`
	ComputedAt     time.Time `json:"computed_at"`
}

// SaveSummary implements SummaryStore.
func (s *RedisStore) SaveSummary(ctx context.Context, sum Summary, keep time.Duration) error {
	b, err := json.Marshal(summaryJSON{sum.OK, sum.ReauthRequired, sum.Expiring, sum.OldestAuthorizedAt, sum.ComputedAt})
	if err != nil {
		return err
	}
	if err := s.client.Set(ctx, s.keys.summary(), b, keep).Err(); err != nil {
		return fmt.Errorf("tokenstore: redis: summary: %w", err)
	}
	return nil
}

// LoadSummary implements SummaryStore. A summary that does not decode is an error,
// not an empty summary.
func (s *RedisStore) LoadSummary(ctx context.Context) (Summary, bool, error) {
	b, err := s.client.Get(ctx, s.keys.summary()).Bytes()
	if errors.Is(err, redis.Nil) {
		return Summary{}, false, nil
	}
	if err != nil {
		return Summary{}, false, fmt.Errorf("tokenstore: redis: summary: %w", err)
	}
	var j summaryJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Summary{}, false, fmt.Errorf("tokenstore: redis: %s does not hold a summary (%v): %w", s.keys.summary(), err, ErrCorrupt)
	}
	if j.ComputedAt.IsZero() {
		return Summary{}, false, fmt.Errorf("tokenstore: redis: %s does not hold a summary (no computed_at): %w", s.keys.summary(), ErrCorrupt)
	}
	return Summary{OK: j.OK, ReauthRequired: j.ReauthRequired, Expiring: j.Expiring, OldestAuthorizedAt: j.OldestAuth, ComputedAt: j.ComputedAt}, true, nil
}

// claimScript: KEYS[1] the claim; ARGV owner, ttl (ms). Takes the claim when nobody
// holds it, extends it when owner does; 1 when owner holds it now, else 0.
var claimScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// releaseScript: KEYS[1] the claim; ARGV owner. Deletes the claim if owner holds it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
`)

// ReleaseValidation implements ValidationClaimer.
func (s *RedisStore) ReleaseValidation(ctx context.Context, owner string) error {
	if err := releaseScript.Run(ctx, s.client, []string{s.keys.validateClaim()}, owner).Err(); err != nil {
		return fmt.Errorf("tokenstore: redis: releasing the validation claim: %w", err)
	}
	return nil
}

// ClaimValidation implements ValidationClaimer: one replica of the deployment at a
// time validates.
func (s *RedisStore) ClaimValidation(ctx context.Context, owner string, ttl time.Duration) (bool, error) {
	n, err := claimScript.Run(ctx, s.client, []string{s.keys.validateClaim()}, owner, max(ttl.Milliseconds(), 1)).Int()
	if err != nil {
		return false, fmt.Errorf("tokenstore: redis: validation claim: %w", err)
	}
	return n == 1, nil
}
