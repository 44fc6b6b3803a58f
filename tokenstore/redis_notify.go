package tokenstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/redissub"
)

// redisPingEvery: an idle subscription pings this often, so a dead connection is
// noticed (and reported by Subscribe) rather than waited on for ever.
const redisPingEvery = 15 * time.Second

// RedisNotifier is a Notifier on Redis pub/sub: channel {prefix}invalidate, one
// message per changed account, "<account> <origin>", where origin is a random id
// of the notifier that published it. Subscribe skips the notifier's own messages
// by that id, and takes a message without an origin (a bare account id) as a
// peer's. In a Cluster, PUBLISH reaches the subscribers of every node. It is safe
// for concurrent use.
//
// Pub/sub delivers at most once: messages published while a subscriber is
// disconnected are lost and cannot be known. Subscribe therefore returns on any
// connection failure instead of reconnecting silently (the Source logs it and
// subscribes again), and the Source's RecheckAfter re-read of cached records bounds
// how long a missed invalidation can leave a replica with a stale token.
type RedisNotifier struct {
	client  redis.UniversalClient
	channel string
	origin  string // this notifier's id in its messages
}

// NewRedisNotifier returns a notifier on the channel under prefix (empty:
// DefaultKeyPrefix).
func NewRedisNotifier(client redis.UniversalClient, prefix string) *RedisNotifier {
	var id [8]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	return &RedisNotifier{client: client, channel: newRedisKeys(prefix).channel(), origin: hex.EncodeToString(id[:])}
}

// Publish implements Notifier.
func (n *RedisNotifier) Publish(ctx context.Context, account string) error {
	if err := n.client.Publish(ctx, n.channel, account+" "+n.origin).Err(); err != nil {
		return fmt.Errorf("tokenstore: redis: publishing an invalidation of account %q: %w", account, err)
	}
	return nil
}

// Subscribe implements Notifier. It calls fn, one call at a time, for every valid
// account id other notifiers publish until ctx ends (it then returns nil), or
// returns the error that broke the subscription.
func (n *RedisNotifier) Subscribe(ctx context.Context, subscribed func(), fn func(account string)) error {
	err := redissub.Follow(ctx, n.client, n.channel, redisPingEvery, redissub.Handlers{
		Subscribed: func() error {
			if subscribed != nil {
				subscribed()
			}
			return nil
		},
		Message: func(payload string) {
			account, origin, _ := strings.Cut(payload, " ")
			if origin != n.origin && ValidAccount(account) {
				fn(account)
			}
		},
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("tokenstore: redis: invalidation %w", err)
	}
	return nil
}
