package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/admin"
	"github.com/spotify-token-proxy/spotify-token-proxy/config"
	"github.com/spotify-token-proxy/spotify-token-proxy/events"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// stores is what the configured backend provides.
type stores struct {
	kind     string
	store    tokenstore.Store
	locker   tokenstore.Locker
	notifier tokenstore.Notifier
	states   admin.StateStore
	events   events.Backend        // nil: the events file beside TOKEN_FILE
	redis    redis.UniversalClient // nil with the file store
	close    func()
	// log is the logger for everything that uses the store (with Redis, it holds
	// back the store's complaints while the watch reports Redis down).
	log *slog.Logger
	// redisWatch, with Redis, reports an outage until its run's context ends.
	redisWatch *redisWatch
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
		if errors.Is(err, tokenstore.ErrCorrupt) {
			return nil, err
		}
		// Not the file's content but its place: a directory that cannot be created
		// or written, a lock held by another process.
		return nil, usageError{fmt.Errorf("TOKEN_FILE: cannot use %s: %w", cfg.TokenFile, err)}
	}
	return &stores{
		kind: "file", store: fs, locker: tokenstore.NopLocker(), states: admin.NewMemoryStateStore(nil),
		close: func() { fs.Close() }, log: log,
	}, nil
}

// checkTokenFile tells whether the file store can work at path: its directory (or,
// when that does not exist yet, the nearest existing parent, where the directory
// will be created) takes a new file, and an existing token file can be read. It
// creates and removes one probe file and takes no lock, so it can run beside a
// proxy that uses the file.
func checkTokenFile(path string) error {
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return &config.Error{Var: "TOKEN_FILE", Msg: path + " is a directory"}
		}
		f, err := os.Open(path)
		if err != nil {
			return &config.Error{Var: "TOKEN_FILE", Msg: fmt.Sprintf("cannot read %s: %v", path, unwrapPath(err))}
		}
		f.Close()
	}
	dir := filepath.Dir(path)
	for {
		fi, err := os.Stat(dir)
		if err == nil {
			if !fi.IsDir() {
				return &config.Error{Var: "TOKEN_FILE", Msg: fmt.Sprintf("cannot create the directory of %s: %s is not a directory", path, dir)}
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	probe, err := os.CreateTemp(dir, ".spotify-token-proxy-check-*")
	if err != nil {
		return &config.Error{Var: "TOKEN_FILE", Msg: fmt.Sprintf("%s is not writable (the proxy keeps %s and its lock there): %v", dir, filepath.Base(path), unwrapPath(err))}
	}
	probe.Close()
	return os.Remove(probe.Name())
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// redisLog routes go-redis's own messages (dial failures while Redis is down) into
// the process's structured log instead of stderr.
type redisLog struct{ log *slog.Logger }

// redisClientPrefix starts go-redis's messages in the log.
const redisClientPrefix = "redis client: "

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn(redisClientPrefix + fmt.Sprintf(format, v...))
}

func openRedis(ctx context.Context, cfg *config.Config, codec *tokenstore.Codec, log *slog.Logger) (*stores, error) {
	client, err := tokenstore.NewRedisClient(cfg.RedisOptions()) // validated by config.Load
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
	// reports not ready and serves as soon as Redis answers. The watch says so
	// once every 10 s and holds back the store's own complaints meanwhile.
	w := newRedisWatch(cfg, func(ctx context.Context) error { return client.Ping(ctx).Err() }, log)
	log = slog.New(quietWhileDown{next: log.Handler(), w: w})
	// go-redis keeps its logger in a package variable; the process has one logger.
	redis.SetLogger(redisLog{log})
	w.check(ctx)
	return &stores{
		log:        log,
		redisWatch: w,
		kind:       kind,
		store:      tokenstore.NewRedisStore(client, cfg.KeyPrefix, codec),
		locker:     tokenstore.NewRedisLocker(client, cfg.KeyPrefix, tokenstore.RedisLockerOptions{TTL: cfg.LockTTL}),
		notifier:   tokenstore.NewRedisNotifier(client, cfg.KeyPrefix),
		states:     admin.NewRedisStateStore(client, cfg.KeyPrefix),
		events: events.NewRedisBackend(client, events.RedisOptions{
			Prefix: cfg.KeyPrefix, Consumer: consumerName(), Logger: log,
		}),
		redis: client,
		close: func() { client.Close() },
	}, nil
}
