package main

import (
	"context"
	"errors"
	"log/slog"

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
	close    func()
}

func openStore(ctx context.Context, cfg *config.Config, codec *tokenstore.Codec, log *slog.Logger) (*stores, error) {
	if cfg.UsesRedis() {
		return openRedis(ctx, cfg, codec, log)
	}
	fs, err := tokenstore.OpenFileStore(cfg.TokenFile, codec)
	if err != nil {
		return nil, err
	}
	return &stores{
		kind: "file", store: fs, locker: tokenstore.NopLocker(), states: admin.NewMemoryStateStore(nil),
		close: func() { fs.Close() },
	}, nil
}

func openRedis(context.Context, *config.Config, *tokenstore.Codec, *slog.Logger) (*stores, error) {
	return nil, errors.New("redis store: not wired yet")
}
