package events

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/redistest"
)

func redisClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// replica is an in-process Log with its delivery loop running.
type replica struct {
	log  *Log
	stop func()
}

func startReplica(t testing.TB, addr, consumer string, rcv *receiver, claimIdle time.Duration) *replica {
	t.Helper()
	secret, _ := ParseSecret(testSecret)
	b := NewRedisBackend(redisClient(t, addr), RedisOptions{Prefix: "it:", Consumer: consumer, ClaimIdle: claimIdle})
	l, err := New(Options{
		Backend: b, WebhookURL: rcv.url(), Secret: secret, RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, KeepEvery: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.startDelivery(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	r := &replica{log: l, stop: func() { cancel(); <-done }}
	t.Cleanup(r.stop)
	return r
}

// waitDelivered waits until every id has had a 2xx delivery and returns how many
// deliveries each id had.
func waitDelivered(t testing.TB, rcv *receiver, ids []string, timeout time.Duration) map[string]int {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	count := map[string]int{}
	deadline := time.After(timeout)
	for missing := len(want); missing > 0; {
		select {
		case d := <-rcv.notify:
			if !d.valid {
				t.Errorf("delivery %s with a bad signature", d.id)
			}
			count[d.id]++
			if want[d.id] && count[d.id] == 1 {
				missing--
			}
		case <-deadline:
			t.Fatalf("%d of %d events not delivered within %s", missing, len(want), timeout)
		}
	}
	return count
}

// Two replicas consume the stream as one group: every event is delivered, and by
// one replica only.
func TestRedisStreamTwoConsumersDeliverEachEventOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs redis-server")
	}
	srv := redistest.StartServer(t)
	rcv := newReceiver(t, nil)
	r1 := startReplica(t, srv.Addr(), "r1", rcv, time.Minute)
	r2 := startReplica(t, srv.Addr(), "r2", rcv, time.Minute)
	const n = 200
	var ids []string
	for i := range n {
		l := r1.log
		if i%2 == 1 {
			l = r2.log
		}
		e, err := l.Emit(context.Background(), Event{Type: AccountLinked, Account: fmt.Sprintf("acct-%d", i), Status: StatusOK})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	count := waitDelivered(t, rcv, ids, 30*time.Second)
	waitNoPending(t, srv.Addr())
	r1.stop()
	r2.stop()
	for _, id := range ids {
		if count[id] != 1 {
			t.Errorf("event %s delivered %d times", id, count[id])
		}
	}
	if got := len(rcv.deliveries()); got != n {
		t.Errorf("%d requests for %d events", got, n)
	}
}

// waitNoPending waits until the group has no pending entry: each delivered event
// is acknowledged just after its 2xx.
func waitNoPending(t testing.TB, addr string) {
	t.Helper()
	c := redisClient(t, addr)
	var last *redis.XPending
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		p, err := c.XPending(context.Background(), "it:{events}:stream", groupName).Result()
		if err == nil && p.Count == 0 {
			return
		}
		last = p
	}
	t.Fatalf("entries still pending after their delivery: %+v", last)
}

// A replica is killed (SIGKILL) with events pending on it; another replica claims
// them (XAUTOCLAIM) and delivers them: none is lost.
func TestReplicaKilledWithEventsPending(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs redis-server")
	}
	srv := redistest.StartServer(t)
	ctx := context.Background()
	const n = 50
	var mu sync.Mutex
	seen := map[string]bool{}
	allSeen := make(chan struct{})
	rcv := newReceiver(t, func(_ int, d delivery) int {
		mu.Lock()
		defer mu.Unlock()
		if !seen[d.id] {
			seen[d.id] = true
			if len(seen) == n {
				close(allSeen)
			}
		}
		return http.StatusServiceUnavailable // the webhook is down while the first replica lives
	})

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envReplicaRedis+"="+srv.Addr(), envReplicaHook+"="+rcv.url().String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("replica process: %q %v", line, err)
	}

	// Events emitted by a replica without a webhook (any replica may emit).
	emitter, err := New(Options{Backend: NewRedisBackend(redisClient(t, srv.Addr()), RedisOptions{Prefix: "it:"})})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range n {
		e, err := emitter.Emit(ctx, Event{Type: AccountReauthRequired, Account: fmt.Sprintf("acct-%d", i), Status: StatusReauthRequired})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	select {
	case <-allSeen:
	case <-time.After(30 * time.Second):
		t.Fatalf("the first replica attempted %d of %d events", len(seen), n)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	c := redisClient(t, srv.Addr())
	pend, err := c.XPending(ctx, "it:{events}:stream", groupName).Result()
	if err != nil || pend.Count != n || pend.Consumers["doomed"] != n {
		t.Fatalf("pending when the replica died: %+v %v", pend, err)
	}

	// The webhook recovers; a surviving replica claims what the dead one held.
	rcv.setAnswer(nil)
	start := time.Now()
	startReplica(t, srv.Addr(), "survivor", rcv, 200*time.Millisecond)
	count := waitDelivered(t, rcv, ids, 30*time.Second)
	lost := 0
	for _, id := range ids {
		if count[id] == 0 {
			lost++
		}
	}
	t.Logf("replica killed with %d events pending: %d lost, all delivered %s after the survivor started (claim idle 200ms)", n, lost, time.Since(start).Round(time.Millisecond))
	if lost != 0 {
		t.Fatalf("%d events lost", lost)
	}
	waitNoPending(t, srv.Addr())
}

// Delivery latency, emit → the receiver has the request, one event at a time.
func TestDeliveryLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs redis-server")
	}
	measure := func(name string, l *Log, rcv *receiver) {
		const n = 200
		var lat []time.Duration
		for i := range n {
			start := time.Now()
			e, err := l.Emit(context.Background(), Event{Type: AccountLinked, Account: fmt.Sprintf("lat-%d", i), Status: StatusOK})
			if err != nil {
				t.Fatal(err)
			}
			d := <-rcv.notify
			if d.id != e.ID {
				t.Fatalf("got %s, want %s", d.id, e.ID)
			}
			lat = append(lat, d.at.Sub(start))
		}
		slices.Sort(lat)
		t.Logf("%s: emit → webhook over %d events: p50 %s, p95 %s, p99 %s, max %s", name, n,
			lat[n/2].Round(time.Microsecond), lat[n*95/100].Round(time.Microsecond), lat[n*99/100].Round(time.Microsecond), lat[n-1].Round(time.Microsecond))
	}
	srv := redistest.StartServer(t)
	rcv := newReceiver(t, nil)
	r := startReplica(t, srv.Addr(), "r1", rcv, time.Minute)
	measure("redis stream", r.log, rcv)

	frcv := newReceiver(t, nil)
	secret, _ := ParseSecret(testSecret)
	fl, err := New(Options{Backend: openFile(t, tempEventsFile(t), nil), WebhookURL: frcv.url(), Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fl.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	measure("file", fl, frcv)
}

// tidy forgets the consumers of replicas gone for the idle time with nothing
// pending; one with pending entries stays for XAUTOCLAIM, and so does the caller.
func TestRedisTidyForgetsDepartedConsumers(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: starts redis-server (miniredis has no consumer idle times)")
	}
	srv := redistest.StartServer(t)
	c := redisClient(t, srv.Addr())
	ctx := context.Background()
	backend := func(name string) *RedisBackend {
		return NewRedisBackend(c, RedisOptions{Prefix: "p:", Consumer: name})
	}
	gone, holding, live := backend("pod-a-1"), backend("pod-b-1"), backend("pod-c-1")
	if err := live.startDelivery(ctx); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*RedisBackend{gone, holding} {
		if _, _, err := b.append(ctx, Event{Type: AccountLinked, Account: "a", Status: StatusOK, Time: t0}, ""); err != nil {
			t.Fatal(err)
		}
		evs, err := b.fetch(ctx, 1)
		if err != nil || len(evs) != 1 {
			t.Fatalf("fetch: %v %v", evs, err)
		}
		if b == gone {
			if err := b.finish(ctx, evs[0].ID, StateDelivered); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := live.fetch(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n, err := live.tidy(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("tidy of consumers that read just now: %d, %v; want 0", n, err)
	}
	n, err := live.tidy(ctx, 0) // every other consumer counts as gone
	if err != nil || n != 1 {
		t.Fatalf("tidy: %d, %v; want 1 (pod-a-1)", n, err)
	}
	consumers, err := c.XInfoConsumers(ctx, "p:{events}:stream", groupName).Result()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, cs := range consumers {
		names = append(names, cs.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"pod-b-1", "pod-c-1"}) {
		t.Fatalf("consumers after tidy: %v", names)
	}
}
