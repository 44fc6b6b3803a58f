package events

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/testclock"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

func newMiniredis(t testing.TB) redis.UniversalClient {
	t.Helper()
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

// Events go into a stream under the key prefix; polling lists them in order; the
// delivery state follows the consumer group.
func TestRedisBackendStreamAndStates(t *testing.T) {
	c := newMiniredis(t)
	rcv := newReceiver(t, func(n int, _ delivery) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	clock := testclock.New(t0)
	f := newFixture(t, NewRedisBackend(c, RedisOptions{Prefix: "p:", Consumer: "r1"}), clock, Options{WebhookURL: rcv.url()})
	ctx := context.Background()
	var ids []string
	for _, a := range []string{"a", "b"} {
		e, err := f.log.Emit(ctx, Event{Type: AccountLinked, Account: a, Status: StatusOK})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	if n, err := c.XLen(ctx, "p:{events}:stream").Result(); err != nil || n != 2 {
		t.Fatalf("stream length %d, %v", n, err)
	}
	evs, err := f.log.b.list(ctx, eventID{}, 10)
	if err != nil || len(evs) != 2 || evs[0].ID != ids[0] || evs[1].Account != "b" {
		t.Fatalf("list %+v %v", evs, err)
	}
	first, _ := parseID(ids[0])
	if evs, _ := f.log.b.list(ctx, first, 10); len(evs) != 1 || evs[0].ID != ids[1] {
		t.Fatalf("list after %s: %+v", ids[0], evs)
	}
	if es, _ := f.log.Recent(ctx, 10); es[0].State != StatePending || es[1].State != StatePending {
		t.Fatalf("before delivery: %+v", es)
	}
	f.step(t) // one fails, one is delivered
	es, _ := f.log.Recent(ctx, 10)
	states := map[DeliveryState]int{}
	for _, e := range es {
		states[e.State]++
	}
	if states[StatePending] != 1 || states[StateDelivered] != 1 {
		t.Fatalf("after one failure: %+v", es)
	}
	oldest, err := f.log.b.oldestUndelivered(ctx)
	if err != nil || oldest.IsZero() {
		t.Fatalf("oldest undelivered %v %v", oldest, err)
	}
	clock.Add(time.Second)
	f.step(t)
	if es, _ := f.log.Recent(ctx, 10); es[0].State != StateDelivered || es[1].State != StateDelivered {
		t.Fatalf("after the retry: %+v", es)
	}
	if oldest, _ := f.log.b.oldestUndelivered(ctx); !oldest.IsZero() {
		t.Fatalf("oldest undelivered %v after all were delivered", oldest)
	}
}

// Without a webhook, events are kept for polling only (state none).
func TestRedisBackendWithoutWebhook(t *testing.T) {
	c := newMiniredis(t)
	f := newFixture(t, NewRedisBackend(c, RedisOptions{Prefix: "p:"}), nil, Options{})
	ctx := context.Background()
	if _, err := f.log.Emit(ctx, Event{Type: AccountDeleted, Account: "a", Status: StatusDeleted}); err != nil {
		t.Fatal(err)
	}
	es, err := f.log.Recent(ctx, 10)
	if err != nil || len(es) != 1 || es[0].State != StateNone {
		t.Fatalf("recent %+v %v", es, err)
	}
}

// While one replica scans (holds the scan lock), another's scan does nothing; the
// lock is released after the scan.
func TestExpiryScanLock(t *testing.T) {
	c := newMiniredis(t)
	ctx := context.Background()
	holder := NewRedisBackend(c, RedisOptions{Prefix: "p:", Consumer: "holder"})
	if ok, err := holder.tryLock(ctx, scanLock, time.Minute); !ok || err != nil {
		t.Fatal(ok, err)
	}
	f := newFixture(t, NewRedisBackend(c, RedisOptions{Prefix: "p:", Consumer: "other"}), nil, Options{})
	s := &ExpiryScanner{Log: f.log, List: lister(Account{ID: "a", AuthorizedAt: t0.AddDate(-1, 0, 0)}), Lifetime: 4380 * time.Hour}
	if n, err := s.Scan(ctx); n != 0 || err != nil {
		t.Fatalf("scan under another's lock emitted %d, %v", n, err)
	}
	if err := holder.unlock(ctx, scanLock); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Scan(ctx); n != 1 || err != nil {
		t.Fatalf("scan after the lock was released emitted %d, %v", n, err)
	}
	if n, _ := c.Exists(ctx, "p:{events}:lock:"+scanLock).Result(); n != 0 {
		t.Fatal("the scan did not release its lock")
	}
}

// A live replica retrying an event keeps it (XCLAIM JUSTID resets its idle time),
// so another replica does not claim it; once the first stops touching it (dead),
// the other claims it after ClaimIdle.
func TestLiveReplicaKeepsItsEvents(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.SetTime(t0)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { c.Close() })
	advance := func(clock *testclock.Clock, d time.Duration) {
		clock.Add(d)
		mr.SetTime(clock.Now())
	}
	rcv := newReceiver(t, func(int, delivery) int { return http.StatusServiceUnavailable })
	clock := testclock.New(t0)
	// a's own XAUTOCLAIM would also reset the idle time of its entries once they
	// pass its ClaimIdle; a long one leaves that to keep.
	a := newFixture(t, NewRedisBackend(c, RedisOptions{Prefix: "p:", Consumer: "a", ClaimIdle: time.Hour}), clock,
		Options{WebhookURL: rcv.url(), RetryBase: time.Hour, KeepEvery: 30 * time.Second})
	other := NewRedisBackend(c, RedisOptions{Prefix: "p:", Consumer: "b", ClaimIdle: time.Minute})
	ctx := context.Background()
	if _, err := a.log.Emit(ctx, Event{Type: AccountLinked, Account: "x", Status: StatusOK}); err != nil {
		t.Fatal(err)
	}
	a.step(t) // fetched, failed, retry in an hour
	for range 4 {
		advance(clock, 40*time.Second)
		a.step(t) // keeps
		if evs, err := other.fetch(ctx, 10); err != nil || len(evs) != 0 {
			t.Fatalf("another replica claimed a live replica's event: %v %v", evs, err)
		}
	}
	advance(clock, 2*time.Minute) // a is gone: nothing touches the entry
	evs, err := other.fetch(ctx, 10)
	if err != nil || len(evs) != 1 || evs[0].Account != "x" {
		t.Fatalf("the dead replica's event was not claimed: %v %v", evs, err)
	}
}

// A Redis that lost its data (restart without persistence, flush) loses the
// consumer group too; delivery makes it again instead of failing for ever.
func TestRedisGroupRecreatedAfterDataLoss(t *testing.T) {
	c := newMiniredis(t)
	rcv := newReceiver(t, nil)
	f := newFixture(t, NewRedisBackend(c, RedisOptions{Prefix: "p:", Consumer: "r1"}), nil, Options{WebhookURL: rcv.url()})
	ctx := context.Background()
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.log.d.step(ctx); err != nil {
		t.Fatalf("step after the data loss: %v", err)
	}
	if _, err := f.log.Emit(ctx, Event{Type: AccountLinked, Account: "a", Status: StatusOK}); err != nil {
		t.Fatal(err)
	}
	f.step(t)
	if len(rcv.deliveries()) != 1 {
		t.Fatalf("%d deliveries after the group was made again", len(rcv.deliveries()))
	}
}

// The same once the replica is past its own pending entries: every group command
// (XAUTOCLAIM first) may be the one to find the group gone, and the events emitted
// before the group is made again are delivered too.
func TestRedisGroupRecreatedMidRun(t *testing.T) {
	c := newMiniredis(t)
	rcv := newReceiver(t, nil)
	f := newFixture(t, NewRedisBackend(c, RedisOptions{Prefix: "p:", Consumer: "r1"}), nil, Options{WebhookURL: rcv.url()})
	ctx := context.Background()
	f.step(t)
	f.step(t) // past its own pending entries
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.log.Emit(ctx, Event{Type: AccountLinked, Account: "a", Status: StatusOK}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := f.log.d.step(ctx); err != nil {
			t.Fatalf("step after the data loss: %v", err)
		}
	}
	if len(rcv.deliveries()) != 1 {
		t.Fatalf("%d deliveries of the event emitted after the data loss, want 1", len(rcv.deliveries()))
	}
}

// keep does not take back an event another replica claimed while this one was too
// slow to say it still held it: it reports it lost, and one replica delivers it.
func TestRedisKeepLetsGoOfClaimedEvents(t *testing.T) {
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { c.Close() })
	a := NewRedisBackend(c, RedisOptions{Prefix: "p:", Consumer: "a"})
	b := NewRedisBackend(c, RedisOptions{Prefix: "p:", Consumer: "b", ClaimIdle: time.Minute})
	ctx := context.Background()
	if err := a.startDelivery(ctx); err != nil {
		t.Fatal(err)
	}
	e, _, err := a.append(ctx, Event{Type: AccountLinked, Account: "a", Status: StatusOK, Time: t0}, "")
	if err != nil {
		t.Fatal(err)
	}
	if evs, err := a.fetch(ctx, 10); err != nil || len(evs) != 1 {
		t.Fatalf("a fetched %v, %v", evs, err)
	}
	mr.SetTime(time.Now().Add(2 * time.Minute)) // a stalls past ClaimIdle
	if evs, err := b.fetch(ctx, 10); err != nil || len(evs) != 1 || evs[0].ID != e.ID {
		t.Fatalf("b did not claim the idle event: %v, %v", evs, err)
	}
	lost, err := a.keep(ctx, []string{e.ID})
	if err != nil || len(lost) != 1 || lost[0] != e.ID {
		t.Fatalf("a keep: lost %v, %v; want the event b holds", lost, err)
	}
	pend, err := c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: "p:{events}:stream", Group: groupName, Start: "-", End: "+", Count: 10}).Result()
	if err != nil || len(pend) != 1 || pend[0].Consumer != "b" {
		t.Fatalf("pending %+v, %v; want the event with b", pend, err)
	}
}

// A replica restarted under the same consumer name (a pod's container restarting)
// resumes its own pending events at once, without waiting for ClaimIdle.
func TestRestartedReplicaResumesItsOwnEvents(t *testing.T) {
	c := newMiniredis(t)
	down := newReceiver(t, func(int, delivery) int { return http.StatusServiceUnavailable })
	f1 := newFixture(t, NewRedisBackend(c, RedisOptions{Prefix: "p:", Consumer: "pod-0"}), nil, Options{WebhookURL: down.url()})
	ctx := context.Background()
	e, err := f1.log.Emit(ctx, Event{Type: AccountLinked, Account: "a", Status: StatusOK})
	if err != nil {
		t.Fatal(err)
	}
	f1.step(t) // pending on pod-0
	up := newReceiver(t, nil)
	f2 := newFixture(t, NewRedisBackend(c, RedisOptions{Prefix: "p:", Consumer: "pod-0", ClaimIdle: time.Hour}), nil, Options{WebhookURL: up.url()})
	f2.step(t)
	if got := up.deliveries(); len(got) != 1 || got[0].id != e.ID {
		t.Fatalf("after the restart: %+v", got)
	}
}

// A failing event store is counted as store_errors_total{op="events"}: a lost
// emit, the page's recent list and the polling API.
func TestRedisFailuresAreCounted(t *testing.T) {
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	f := newFixture(t, NewRedisBackend(c, RedisOptions{Prefix: "p:", Consumer: "r1"}), testclock.New(t0), Options{})
	ctx := context.Background()
	storeErrors := func() float64 { return testutil.ToFloat64(f.m.StoreErrors.WithLabelValues(metrics.OpEvents)) }
	if _, err := f.log.Emit(ctx, Event{Type: AccountLinked, Account: "a", Status: StatusOK}); err != nil || storeErrors() != 0 {
		t.Fatalf("emit with the store up: %v, %v errors", err, storeErrors())
	}
	mr.SetError("LOADING Redis is loading the dataset in memory")
	if _, err := f.log.Emit(ctx, Event{Type: AccountLinked, Account: "b", Status: StatusOK}); err == nil {
		t.Fatal("emit with the store failing succeeded")
	}
	if _, err := f.log.Recent(ctx, 10); err == nil {
		t.Fatal("recent with the store failing succeeded")
	}
	rec := httptest.NewRecorder()
	f.log.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/v1/events", nil))
	if rec.Code != http.StatusServiceUnavailable || storeErrors() != 3 {
		t.Fatalf("GET /admin/v1/events: %d; store errors %v, want 3", rec.Code, storeErrors())
	}
}
