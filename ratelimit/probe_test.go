package ratelimit

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/redistest"
	"github.com/spotify-token-proxy/spotify-token-proxy/internal/testclock"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

// signalling is a Sharer that tells the test each notice once the gate applied it.
type signalling struct {
	*RedisBlocks
	seen chan Notice
}

func (s signalling) Follow(ctx context.Context, app string, fn func(Notice)) error {
	return s.RedisBlocks.Follow(ctx, app, func(n Notice) {
		fn(n)
		select {
		case s.seen <- n:
		case <-ctx.Done():
		}
	})
}

// replicas are gates of one app on one Redis, as in replicas of the proxy, with
// one manual clock.
type replicas struct {
	clock  *testclock.Fake
	gates  []*Gate
	ms     []*metrics.Metrics
	seen   []chan Notice
	blocks *RedisBlocks
	out    chan admission
	stop   func() // ends the subscriptions and waits for them
}

type admission struct {
	gate int
	pass Pass
	err  error
}

func newReplicas(t *testing.T, addr string, n int) *replicas {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var following sync.WaitGroup
	r := &replicas{clock: testclock.NewFake(t0), out: make(chan admission, 16), stop: func() { cancel(); following.Wait() }}
	t.Cleanup(r.stop)
	for range n {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		t.Cleanup(func() { c.Close() })
		rb := NewRedisBlocks(c, "p:", r.clock.Now)
		s := signalling{RedisBlocks: rb, seen: make(chan Notice)}
		m := metrics.New(prometheus.NewRegistry())
		g := NewGate(Config{App: "app", MaxWait: 5 * time.Second, Sharer: s, Prober: rb, Clock: r.clock, Metrics: m})
		following.Go(func() { g.Follow(ctx) })
		r.gates, r.ms, r.seen, r.blocks = append(r.gates, g), append(r.ms, m), append(r.seen, s.seen), rb
		r.heard(t, len(r.gates)-1, func(Notice) bool { return true }) // subscribed
	}
	return r
}

// heard waits until gate i has applied a notice that ok accepts.
func (r *replicas) heard(t *testing.T, i int, ok func(Notice) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case n := <-r.seen[i]:
			if ok(n) {
				return
			}
		case <-deadline:
			t.Fatalf("replica %d never heard the notice", i)
		}
	}
}

// block records a 429 on gate i and waits until every replica holds the block.
func (r *replicas) block(t *testing.T, i int, d time.Duration, reason string) {
	t.Helper()
	r.gates[i].Record(context.Background(), d, reason)
	until := r.clock.Now().Add(d)
	for j := range r.gates {
		r.heard(t, j, func(n Notice) bool { return !n.Released && n.Block.Until.Equal(until) })
	}
}

func (r *replicas) admit(i int) {
	go func() {
		p, err := r.gates[i].Admit(context.Background(), "a")
		r.out <- admission{i, p, err}
	}()
}

// next is the next request that Admit let through or turned away.
func (r *replicas) next(t *testing.T) admission {
	t.Helper()
	select {
	case a := <-r.out:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no request was admitted")
		return admission{}
	}
}

// waitsForRemoteProbe waits until gate g holds a request for another replica's probe.
func waitsForRemoteProbe(t *testing.T, g *Gate) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		ok := g.phase == phaseProbing && !g.remote.IsZero() && g.waiting > 0
		g.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica does not wait for another replica's probe")
		}
		runtime.Gosched()
	}
}

func noMoreAdmitted(t *testing.T, r *replicas) {
	t.Helper()
	select {
	case a := <-r.out:
		t.Fatalf("replica %d let a request go while another replica's probe is out (probe=%v err=%v)", a.gate, a.pass.Probe(), a.err)
	default:
	}
}

func startRedis(t *testing.T) *redistest.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs redis-server")
	}
	return redistest.StartServer(t)
}

// startProbe blocks the app, lets the block end with one request waiting in each
// replica, and returns the one probe that goes; the others wait for it.
func startProbe(t *testing.T, r *replicas) admission {
	t.Helper()
	r.block(t, 0, time.Second, "")
	for i := range r.gates {
		r.admit(i)
	}
	r.clock.Waiters(len(r.gates))
	r.clock.Advance(time.Second) // every replica's block ends at once
	probe := r.next(t)
	if probe.err != nil || !probe.pass.Probe() {
		t.Fatalf("first request after the block: probe=%v err=%v", probe.pass.Probe(), probe.err)
	}
	for i, g := range r.gates {
		if i != probe.gate {
			waitsForRemoteProbe(t, g)
		}
	}
	noMoreAdmitted(t, r)
	return probe
}

// When the block ends, one request probes Spotify across all replicas; its 200
// releases the requests waiting in every replica.
func TestOneProbeAcrossReplicas(t *testing.T) {
	srv := startRedis(t)
	r := newReplicas(t, srv.Addr(), 3)
	probe := startProbe(t, r)
	for i, g := range r.gates {
		s, err := g.Snapshot(context.Background())
		if err != nil || s.Phase != PhaseProbing || s.ProbeElsewhere != (i != probe.gate) || s.Remaining != 0 {
			t.Fatalf("replica %d while probing: %+v %v", i, s, err)
		}
	}
	r.gates[probe.gate].Done(probe.pass, 200)
	for range len(r.gates) - 1 {
		a := r.next(t)
		if a.err != nil || a.pass.Probe() {
			t.Fatalf("replica %d after the probe's 200: probe=%v err=%v", a.gate, a.pass.Probe(), a.err)
		}
	}
	r.clock.Advance(r.gates[0].cfg.ReleaseInterval) // the released backlog has gone
	for i, g := range r.gates {
		if p, err := g.Admit(context.Background(), "a"); err != nil || p.Probe() {
			t.Fatalf("replica %d not open after the release: probe=%v err=%v", i, p.Probe(), err)
		}
	}
}

// The probe's 429 renews the block on every replica and frees the lease.
func TestProbe429RenewsTheBlockOnEveryReplica(t *testing.T) {
	srv := startRedis(t)
	r := newReplicas(t, srv.Addr(), 3)
	probe := startProbe(t, r)
	g := r.gates[probe.gate]
	g.Record(context.Background(), 30*time.Second, "QUOTA_EXCEEDED") // Spotify answered the probe 429
	g.Done(probe.pass, 429)
	for range len(r.gates) - 1 {
		a := r.next(t)
		if rej := rejected(t, a.err); rej.RetryAfter != 30*time.Second || rej.Reason != "QUOTA_EXCEEDED" {
			t.Fatalf("replica %d after the probe's 429: %+v", a.gate, rej)
		}
	}
	if n := r.blocks.client.Exists(context.Background(), r.blocks.ProbeKey("app")).Val(); n != 0 {
		t.Fatal("the probe's lease outlives its 429")
	}
}

// A probe whose replica dies (Done never comes) holds the others only for its
// lease; then one of them probes, and its answer releases every replica.
func TestProbeLeaseEndsWithoutAnAnswer(t *testing.T) {
	srv := startRedis(t)
	r := newReplicas(t, srv.Addr(), 3)
	dead := startProbe(t, r)
	r.clock.Waiters(len(r.gates) - 1) // the others wait for the lease to end
	r.clock.Advance(r.gates[0].cfg.ProbeLease)
	second := r.next(t)
	if second.err != nil || !second.pass.Probe() || second.gate == dead.gate {
		t.Fatalf("after the lease: replica %d probe=%v err=%v", second.gate, second.pass.Probe(), second.err)
	}
	for i, g := range r.gates {
		if i != dead.gate && i != second.gate {
			waitsForRemoteProbe(t, g)
		}
	}
	noMoreAdmitted(t, r)
	r.gates[second.gate].Done(second.pass, 200)
	if a := r.next(t); a.err != nil || a.pass.Probe() {
		t.Fatalf("replica %d after the second probe's 200: probe=%v err=%v", a.gate, a.pass.Probe(), a.err)
	}
	// The dead probe's replica is released too.
	r.heard(t, dead.gate, func(n Notice) bool { return n.Released })
	if p, err := r.gates[dead.gate].Admit(context.Background(), "a"); err != nil || p.Probe() {
		t.Fatalf("the first prober's replica after the release: probe=%v err=%v", p.Probe(), err)
	}
}

// With Redis down each replica sends its own probe, as without a Prober, and
// counts the store error; nothing waits for Redis.
func TestProbePerReplicaWhenRedisIsDown(t *testing.T) {
	mr, _ := newMiniredis(t)
	r := newReplicas(t, mr.Addr(), 2)
	r.block(t, 0, time.Second, "")
	r.stop() // only the election talks to Redis from here on
	mr.Close()
	r.clock.Advance(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a request must not wait for Redis
	defer cancel()
	for i, g := range r.gates {
		p, err := g.Admit(ctx, "a")
		if err != nil || !p.Probe() {
			t.Fatalf("replica %d with Redis down: probe=%v err=%v", i, p.Probe(), err)
		}
		if n := testutil.ToFloat64(r.ms[i].StoreErrors.WithLabelValues(metrics.OpRateLimit)); n != 1 {
			t.Fatalf("replica %d: store errors = %v, want the failed election", i, n)
		}
		g.Done(p, 200) // no lease: nothing to tell Redis
		if _, err := g.Admit(context.Background(), "a"); err != nil {
			t.Fatalf("replica %d not released by its own probe: %v", i, err)
		}
	}
}
