package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/config"
)

// redisReportEvery is how often a Redis that does not answer is reported.
const redisReportEvery = 10 * time.Second

// redisWatch tells the operator, one line every interval, that Redis does not
// answer, naming the setting to check. The proxy keeps running meanwhile (readiness
// stays 503, as Kubernetes expects of a pod whose dependency is not up yet), and the
// store's own complaints about the same outage (go-redis dial failures, the token
// source's retries: several lines a second) are held back by quietWhileDown and
// counted in that one line.
type redisWatch struct {
	ping     func(ctx context.Context) error
	setting  string // REDIS_URL or REDIS_ADDRS
	target   string // what the setting points at, without credentials
	log      *slog.Logger
	interval time.Duration
	// tick returns a channel that fires every interval (tests inject their own).
	tick func(time.Duration) (<-chan time.Time, func())

	// down is true from the start until a ping answers, so that the failures of
	// the first ping are held back too.
	down       atomic.Bool
	suppressed atomic.Int64
	reported   bool // an outage line was logged (only check touches it)
}

func newRedisWatch(cfg *config.Config, ping func(context.Context) error, log *slog.Logger) *redisWatch {
	w := &redisWatch{ping: ping, log: log, interval: redisReportEvery, tick: realTicker}
	w.down.Store(true)
	if cfg.RedisURL != "" {
		w.setting, w.target = "REDIS_URL", redactRedisURL(cfg.RedisURL)
	} else {
		w.setting, w.target = "REDIS_ADDRS", strings.Join(cfg.RedisAddrs, ",")
	}
	return w
}

func realTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// redactRedisURL keeps the scheme and the host of a Redis URL: its user and
// password are secrets.
func redactRedisURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.Scheme == "unix" {
		return "unix://" + u.Path
	}
	return u.Scheme + "://" + u.Host
}

// check pings once and reports: a line when Redis does not answer, one line when it
// answers again.
func (w *redisWatch) check(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err := w.ping(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err == nil {
		if w.down.Swap(false) && w.reported {
			w.reported = false
			w.log.Info("redis answers again; readiness follows", "setting", w.setting, "redis", w.target)
		}
		w.suppressed.Store(0)
		return
	}
	w.down.Store(true)
	w.reported = true
	w.log.Warn(fmt.Sprintf("waiting for Redis: %s (%s) does not answer; readiness stays 503 until it does; next report in %s",
		w.setting, w.target, w.interval), "setting", w.setting, "redis", w.target, "error", err.Error(),
		"similar_lines_suppressed", w.suppressed.Swap(0))
}

// run checks every interval until ctx ends (start-up made the first check).
func (w *redisWatch) run(ctx context.Context) {
	c, stop := w.tick(w.interval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c:
			w.check(ctx)
		}
	}
}

// quietWhileDown passes records to next, except the store's warnings about an
// outage the watch already reports.
type quietWhileDown struct {
	next slog.Handler
	w    *redisWatch
}

func (h quietWhileDown) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h quietWhileDown) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && h.w.down.Load() && redisNoise(r) {
		h.w.suppressed.Add(1)
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h quietWhileDown) WithAttrs(as []slog.Attr) slog.Handler {
	return quietWhileDown{next: h.next.WithAttrs(as), w: h.w}
}

func (h quietWhileDown) WithGroup(name string) slog.Handler {
	return quietWhileDown{next: h.next.WithGroup(name), w: h.w}
}

// redisNoise tells a record about failing Redis calls: go-redis's own messages and
// records whose error comes from a Redis call.
func redisNoise(r slog.Record) bool {
	if strings.HasPrefix(r.Message, redisClientPrefix) {
		return true
	}
	noise := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" && strings.Contains(strings.ToLower(a.Value.String()), "redis") {
			noise = true
			return false
		}
		return true
	})
	return noise
}
