package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/config"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
)

// newRateLimitGate builds the gate of the app's calls to Spotify: with Redis the
// block is shared through it, the one probe after a block elected in it and the
// budget kept in it; with the file store all are in process. It follows the other
// replicas' blocks until ctx ends.
func newRateLimitGate(ctx context.Context, cfg *config.Config, st *stores, m *metrics.Metrics, log *slog.Logger) *ratelimit.Gate {
	gc := ratelimit.Config{App: cfg.ClientID, MaxWait: cfg.RateLimitMaxWait, Metrics: m, Logger: log}
	budgeted := !cfg.RateLimit.IsZero() || !cfg.RateLimitPerAccount.IsZero()
	var blocks *ratelimit.RedisBlocks
	if st.redis != nil {
		blocks = ratelimit.NewRedisBlocks(st.redis, cfg.KeyPrefix, nil)
		gc.Sharer, gc.Prober = blocks, blocks
		if budgeted {
			gc.Budget = ratelimit.NewRedisBudget(st.redis, cfg.KeyPrefix, cfg.ClientID, cfg.RateLimit, cfg.RateLimitPerAccount)
		}
	} else if budgeted {
		gc.Budget = ratelimit.NewMemoryBudget(cfg.RateLimit, cfg.RateLimitPerAccount, nil)
	}
	g := ratelimit.NewGate(gc)
	if blocks != nil {
		// A replica that starts during a block holds it from its first request.
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if b, err := blocks.Load(lctx, cfg.ClientID); err == nil {
			g.Observe(b)
		}
		cancel()
	}
	go g.Follow(ctx)
	return g
}
