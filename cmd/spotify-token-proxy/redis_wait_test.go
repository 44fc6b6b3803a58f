package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/spotify-token-proxy/spotify-token-proxy/config"
	"github.com/spotify-token-proxy/spotify-token-proxy/internal/freeport"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// lineWriter hands every log line to a channel, so a test waits for lines instead
// of sleeping.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w <- l
	}
	return len(p), nil
}

func (w lineWriter) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-w:
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no log line within 10s")
		return ""
	}
}

func (w lineWriter) none(t *testing.T) {
	t.Helper()
	select {
	case l := <-w:
		t.Fatalf("unexpected log line: %s", l)
	default:
	}
}

// A Redis that does not answer at start: the proxy keeps going and logs one line
// naming REDIS_URL (without its password) per report interval, however often the
// store fails meanwhile; when Redis answers, one line says so and the store's
// warnings pass again.
func TestRedisDownAtStartLogsOneLinePerInterval(t *testing.T) {
	addr := freeport.Addr(t) // nothing listens there yet
	lines := make(lineWriter, 1000)
	log := slog.New(slog.NewTextHandler(lines, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	codec, _ := tokenstore.NewCodec()
	st, err := openStore(ctx, &config.Config{RedisURL: "redis://proxy:s3cret-pw@" + addr, KeyPrefix: "t:", LockTTL: time.Second}, codec, log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	w := st.redisWatch
	if w == nil || w.interval != 10*time.Second {
		t.Fatalf("redis watch %+v: want one report every 10s", w)
	}
	first := lines.next(t)
	if !strings.Contains(first, "REDIS_URL (redis://"+addr+") does not answer") || strings.Contains(first, "s3cret-pw") {
		t.Fatalf("first line: %s", first)
	}

	ticks := make(chan time.Time)
	w.tick = func(d time.Duration) (<-chan time.Time, func()) { return ticks, func() {} }
	done := make(chan struct{})
	go func() { w.run(ctx); close(done) }()

	// The store fails many times between two reports: go-redis's dial failures and
	// the source's warnings about them are held back.
	for range 2 {
		_, err := st.store.Get(ctx, "alice")
		if err == nil {
			t.Fatal("Get succeeded without Redis")
		}
		st.log.Warn("refresh failed", "account", "alice", "error", err)
	}
	st.log.Info("an unrelated line passes")
	if l := lines.next(t); !strings.Contains(l, "an unrelated line passes") {
		t.Fatalf("got %s", l)
	}
	lines.none(t)

	for i := range 3 {
		ticks <- time.Time{}
		l := lines.next(t)
		if !strings.Contains(l, "REDIS_URL") || strings.Count(l, "\n") > 0 {
			t.Fatalf("report %d: %s", i, l)
		}
		if i == 0 && !strings.Contains(l, "similar_lines_suppressed=") || strings.Contains(l, "similar_lines_suppressed=0") && i == 0 {
			t.Fatalf("report %d does not count the held-back lines: %s", i, l)
		}
		lines.none(t)
	}

	m := miniredis.NewMiniRedis()
	m.RequireUserAuth("proxy", "s3cret-pw")
	if err := m.StartAddr(addr); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// go-redis redials in the background (about once a second); each report until
	// then still says Redis is down.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ticks <- time.Time{}
		l := lines.next(t)
		if strings.Contains(l, "redis answers again") {
			break
		}
		if !strings.Contains(l, "REDIS_URL") || time.Now().After(deadline) {
			t.Fatalf("recovery line: %s", l)
		}
		<-time.After(100 * time.Millisecond)
	}
	st.log.Warn("refresh failed", "account", "alice", "error", "tokenstore: redis: something else")
	if l := lines.next(t); !strings.Contains(l, "refresh failed") {
		t.Fatalf("a store warning after recovery was held back: %s", l)
	}
	cancel()
	<-done
}
