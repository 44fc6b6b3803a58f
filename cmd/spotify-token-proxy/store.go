package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/admin"
	"github.com/spotify-token-proxy/spotify-token-proxy/config"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// stores is what the configured backend provides.
type stores struct {
	kind     string
	store    tokenstore.Store
	locker   tokenstore.Locker
	notifier tokenstore.Notifier
	states   admin.StateStore
	redis    redis.UniversalClient // nil with the file store
	close    func()
}

func openStore(ctx context.Context, cfg *config.Config, codec *tokenstore.Codec, log *slog.Logger) (*stores, error) {
	if cfg.AcceptPlaintext {
		codec = codec.WithAcceptPlaintext(true)
		log.Warn("TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT is set: plaintext records are read and sealed at their next write; unset it once every account has been refreshed")
	}
	if cfg.UsesRedis() {
		return openRedis(ctx, cfg, codec, log)
	}
	fs, err := tokenstore.OpenFileStore(cfg.TokenFile, codec, tokenstore.WithFileStoreLogger(log))
	if err != nil {
		return nil, err
	}
	return &stores{
		kind: "file", store: fs, locker: tokenstore.NopLocker(), states: admin.NewMemoryStateStore(nil),
		close: func() { fs.Close() },
	}, nil
}

// redisLog routes go-redis's own messages (dial failures while Redis is down) into
// the process's structured log instead of stderr.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn("redis client: " + fmt.Sprintf(format, v...))
}

func openRedis(ctx context.Context, cfg *config.Config, codec *tokenstore.Codec, log *slog.Logger) (*stores, error) {
	// go-redis keeps its logger in a package variable; the process has one logger.
	redis.SetLogger(redisLog{log})
	client, err := tokenstore.NewRedisClient(tokenstore.RedisOptions{
		URL: cfg.RedisURL, Addrs: cfg.RedisAddrs, MasterName: cfg.RedisMasterName,
		Username: cfg.RedisUsername, Password: cfg.RedisPassword,
	})
	if err != nil {
		return nil, usageError{err}
	}
	kind := "redis"
	switch {
	case cfg.RedisMasterName != "":
		kind = "redis-sentinel"
	case len(cfg.RedisAddrs) > 1:
		kind = "redis-cluster"
	}
	// Start-up does not wait for Redis: a proxy that starts while Redis is down
	// reports not ready and serves as soon as Redis answers.
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		log.Warn("redis does not answer yet; readiness stays 503 until it does", "store", kind, "error", err)
	}
	return &stores{
		kind:     kind,
		store:    tokenstore.NewRedisStore(client, cfg.KeyPrefix, codec),
		locker:   tokenstore.NewRedisLocker(client, cfg.KeyPrefix, tokenstore.RedisLockerOptions{TTL: cfg.LockTTL}),
		notifier: tokenstore.NewRedisNotifier(client, cfg.KeyPrefix),
		states:   admin.NewRedisStateStore(client, cfg.KeyPrefix),
		redis:    client,
		close:    func() { client.Close() },
	}, nil
}
