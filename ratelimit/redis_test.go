package ratelimit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

func newMiniredis(t *testing.T) (*miniredis.Miniredis, redis.UniversalClient) {
	t.Helper()
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { c.Close() })
	return mr, c
}

func TestRedisBlocksOnlyMoveLater(t *testing.T) {
	mr, c := newMiniredis(t)
	r := NewRedisBlocks(c, "p:", func() time.Time { return t0 })
	ctx := context.Background()
	got, err := r.Share(ctx, "app", Block{Until: t0.Add(10 * time.Second), Reason: "QUOTA_EXCEEDED"})
	if err != nil || !got.Until.Equal(t0.Add(10*time.Second)) || got.Reason != "QUOTA_EXCEEDED" {
		t.Fatalf("first share: %+v %v", got, err)
	}
	got, err = r.Share(ctx, "app", Block{Until: t0.Add(2 * time.Second)})
	if err != nil || !got.Until.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("an earlier block moved it: %+v %v", got, err)
	}
	if k := r.Key("app"); k != "p:{ratelimit:app}:block" || !mr.Exists(k) {
		t.Fatalf("key %q (exists %v)", k, mr.Exists(k))
	}
	if ttl := mr.TTL(r.Key("app")); ttl <= 10*time.Second || ttl > 10*time.Second+blockKeep {
		t.Fatalf("ttl %v", ttl)
	}
}

// Two gates on one Redis: a 429 seen by one holds the other.
func TestSharedBlockReachesTheOtherReplica(t *testing.T) {
	_, c := newMiniredis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mk := func() *Gate {
		g := NewGate(Config{App: "app", Sharer: NewRedisBlocks(c, "p:", nil), Metrics: metrics.New(prometheus.NewRegistry())})
		return g
	}
	a, b := mk(), mk()
	learnt := make(chan Block, 4)
	go func() {
		_ = b.cfg.Sharer.Follow(ctx, "app", func(n Notice) { b.Observe(n.Block); learnt <- n.Block })
	}()
	<-learnt // the subscription started (the stored block, none yet)
	a.Record(ctx, time.Minute, "")
	if bl := <-learnt; bl.Until.IsZero() {
		t.Fatal("no block published")
	}
	_, err := b.Admit(ctx, "x")
	if rej := rejected(t, err); rej.RetryAfter < 59*time.Second {
		t.Fatalf("other replica: %+v", rej)
	}
	// A replica that subscribes later reads the stored block.
	late := mk()
	go func() {
		_ = late.cfg.Sharer.Follow(ctx, "app", func(n Notice) { late.Observe(n.Block); learnt <- n.Block })
	}()
	<-learnt
	if _, err := late.Admit(ctx, "x"); err == nil {
		t.Fatal("a replica that joined during the block is not held")
	}
}

func TestRedisBudgetIsShared(t *testing.T) {
	_, c := newMiniredis(t)
	ctx := context.Background()
	b1 := NewRedisBudget(c, "p:", "app", Limit{N: 3, Per: time.Minute}, Limit{})
	b2 := NewRedisBudget(c, "p:", "app", Limit{N: 3, Per: time.Minute}, Limit{})
	for i, b := range []*RedisBudget{b1, b2, b1} {
		if d, err := b.Take(ctx, "a"); err != nil || d != 0 {
			t.Fatalf("call %d: %v %v", i, d, err)
		}
	}
	d, err := b2.Take(ctx, "a")
	if err != nil || d < 59*time.Second || d > 61*time.Second {
		t.Fatalf("fourth call across replicas: wait %v, err %v (want about 60s: the first call leaves the window)", d, err)
	}
	if u, err := b2.Usage(ctx); err != nil || u.Used != 3 || u.Limit != (Limit{N: 3, Per: time.Minute}) {
		t.Fatalf("usage %+v %v", u, err)
	}
}

func TestRedisBudgetPerAccount(t *testing.T) {
	_, c := newMiniredis(t)
	ctx := context.Background()
	b := NewRedisBudget(c, "p:", "app", Limit{N: 100, Per: time.Minute}, Limit{N: 1, Per: time.Minute})
	if d, _ := b.Take(ctx, "busy"); d != 0 {
		t.Fatal("first call refused")
	}
	if d, _ := b.Take(ctx, "busy"); d == 0 {
		t.Fatal("busy account went past its share")
	}
	if d, _ := b.Take(ctx, "quiet"); d != 0 {
		t.Fatal("quiet account held")
	}
}

func TestRedisBudgetDownFailsOpen(t *testing.T) {
	mr, c := newMiniredis(t)
	mr.Close()
	m := metrics.New(prometheus.NewRegistry())
	g := NewGate(Config{App: "app", Budget: NewRedisBudget(c, "p:", "app", Limit{N: 1, Per: time.Hour}, Limit{}), Metrics: m})
	for range 3 {
		if _, err := g.Admit(context.Background(), "a"); err != nil {
			t.Fatalf("budget with Redis down: %v", err)
		}
	}
	if _, err := NewRedisBlocks(c, "p:", nil).Share(context.Background(), "app", Block{Until: t0}); err == nil ||
		!strings.Contains(err.Error(), "ratelimit: redis") {
		t.Fatalf("share with Redis down: %v", err)
	}
}

// The probe lease: one owner at a time until its end; only the owner frees it; a
// 200 marks the block released and publishes it; a later block wins.
func TestRedisProbeLease(t *testing.T) {
	mr, c := newMiniredis(t)
	now := t0
	r := NewRedisBlocks(c, "p:", func() time.Time { return now })
	ctx := context.Background()
	until := t0.Add(-time.Second) // the block that ended
	if _, err := r.Share(ctx, "app", Block{Until: until}); err != nil {
		t.Fatal(err)
	}
	lease := func(owner string) Lease {
		t.Helper()
		l, err := r.Lease(ctx, "app", until, owner, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := lease("a-1"); l.Outcome != LeaseTaken || !l.Expires.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("first: %+v", l)
	}
	if k := r.ProbeKey("app"); k != "p:{ratelimit:app}:probe" || mr.TTL(k) <= 10*time.Second {
		t.Fatalf("key %q ttl %v", k, mr.TTL(k))
	}
	if l := lease("b-1"); l.Outcome != LeaseHeld || !l.Expires.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("second: %+v", l)
	}
	if err := r.Finish(ctx, "app", until, "b-1", false); err != nil || !mr.Exists(r.ProbeKey("app")) {
		t.Fatalf("another owner freed the lease: %v", err)
	}
	if err := r.Finish(ctx, "app", until, "a-1", false); err != nil || mr.Exists(r.ProbeKey("app")) {
		t.Fatalf("the owner did not free the lease: %v", err)
	}
	lease("a-2")
	now = now.Add(10 * time.Second) // a-2's lease ends unanswered
	if l := lease("b-2"); l.Outcome != LeaseTaken {
		t.Fatalf("after the lease's end: %+v", l)
	}
	// A lease left from this block (its owner never finished: a Redis timeout) does
	// not hold the probe of a later block once that one ends.
	next := until.Add(2 * time.Second)
	if l, err := r.Lease(ctx, "app", next, "d-1", 10*time.Second); err != nil || l.Outcome != LeaseTaken {
		t.Fatalf("a later block's probe behind an earlier block's lease: %+v %v", l, err)
	}
	if err := r.Finish(ctx, "app", next, "d-1", false); err != nil {
		t.Fatal(err)
	}
	if l := lease("b-3"); l.Outcome != LeaseTaken {
		t.Fatalf("after d-1 freed its lease: %+v", l)
	}

	sub := c.Subscribe(ctx, "p:ratelimit")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(ctx, "app", until, "b-2", true); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := parseNotice(msg.Payload, "app"); !ok || !n.Released || n.Block.Until.UnixMilli() != until.UnixMilli() {
		t.Fatalf("release message %q", msg.Payload)
	}
	if l := lease("c-1"); l.Outcome != LeaseReleased {
		t.Fatalf("after the release: %+v", l)
	}
	later := Block{Until: t0.Add(time.Minute), Reason: "QUOTA_EXCEEDED"}
	if _, err := r.Share(ctx, "app", later); err != nil {
		t.Fatal(err)
	}
	if l := lease("c-2"); l.Outcome != LeaseBlocked || !l.Block.Until.Equal(later.Until) || l.Block.Reason != later.Reason {
		t.Fatalf("with a later block: %+v", l)
	}
	if _, ok := parseNotice("other 123 ", "app"); ok {
		t.Fatal("another app's message was read")
	}
}
