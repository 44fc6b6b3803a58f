package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStateStore keeps login states in Redis so that the callback may reach any
// replica. Keys hold a SHA-256 of the state (never the state itself) and expire with
// the state; Take is GETDEL, so of two concurrent takes exactly one wins.
type RedisStateStore struct {
	client redis.Cmdable
	prefix string
}

// NewRedisStateStore returns a StateStore on client with keys under prefix.
func NewRedisStateStore(client redis.Cmdable, prefix string) *RedisStateStore {
	return &RedisStateStore{client: client, prefix: prefix}
}

func (s *RedisStateStore) key(state string) string {
	sum := sha256.Sum256([]byte(state))
	return s.prefix + "login:" + hex.EncodeToString(sum[:])
}

// Save implements StateStore.
func (s *RedisStateStore) Save(ctx context.Context, state string, data []byte, ttl time.Duration) error {
	ok, err := s.client.SetNX(ctx, s.key(state), data, ttl).Result()
	if err != nil {
		return fmt.Errorf("admin: saving login state: %w", err)
	}
	if !ok {
		return errors.New("admin: login state collision")
	}
	return nil
}

// Take implements StateStore.
func (s *RedisStateStore) Take(ctx context.Context, state string) ([]byte, error) {
	b, err := s.client.GetDel(ctx, s.key(state)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrStateNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("admin: reading login state: %w", err)
	}
	return b, nil
}

// RedisStateStore also keeps admin sessions (SessionStore), under
// prefix + "session:" + key. Keys are HMACs of the session ids already.
func (s *RedisStateStore) sessionKey(key string) string { return s.prefix + "session:" + key }

// SaveSession implements SessionStore.
func (s *RedisStateStore) SaveSession(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	ok, err := s.client.SetNX(ctx, s.sessionKey(key), data, ttl).Result()
	if err != nil {
		return fmt.Errorf("admin: saving session: %w", err)
	}
	if !ok {
		return errors.New("admin: session collision")
	}
	return nil
}

// Session implements SessionStore.
func (s *RedisStateStore) Session(ctx context.Context, key string) ([]byte, error) {
	b, err := s.client.Get(ctx, s.sessionKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrSessionNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("admin: reading session: %w", err)
	}
	return b, nil
}

// DeleteSession implements SessionStore.
func (s *RedisStateStore) DeleteSession(ctx context.Context, key string) error {
	if err := s.client.Del(ctx, s.sessionKey(key)).Err(); err != nil {
		return fmt.Errorf("admin: deleting session: %w", err)
	}
	return nil
}
