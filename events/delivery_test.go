package events

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

// A failing webhook is retried after 1s, 2s, 4s (no jitter) with the same
// webhook-id and a fresh timestamp and signature each time, and never earlier.
func TestRetriesWithExponentialBackoffUntilDelivered(t *testing.T) {
	rcv := newReceiver(t, func(n int, _ delivery) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	f := newFixture(t, openFile(t, tempEventsFile(t), nil), nil, Options{WebhookURL: rcv.url(), RetryBase: time.Second})
	e, err := f.log.Emit(context.Background(), Event{Type: AccountLinked, Account: "alice", Status: StatusOK, AuthorizedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	wantGaps := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	next := f.step(t)
	for i, gap := range wantGaps {
		if len(rcv.deliveries()) != i+1 {
			t.Fatalf("after attempt %d the receiver has %d requests", i+1, len(rcv.deliveries()))
		}
		if got := next.Sub(f.clock.Now()); got != gap {
			t.Fatalf("retry %d due in %s, want %s", i+1, got, gap)
		}
		f.clock.Add(gap - time.Millisecond)
		f.step(t) // not yet due
		if len(rcv.deliveries()) != i+1 {
			t.Fatalf("retry %d was made before its backoff passed", i+1)
		}
		f.clock.Add(time.Millisecond)
		next = f.step(t)
	}
	got := rcv.deliveries()
	if len(got) != 4 || !next.IsZero() {
		t.Fatalf("%d requests, next %v; want 4 and nothing left", len(got), next)
	}
	for i, d := range got {
		if d.id != e.ID || !d.valid {
			t.Errorf("request %d: webhook-id %q (want %q), signature valid %v", i, d.id, e.ID, d.valid)
		}
	}
	if got[0].timestamp == got[3].timestamp {
		t.Errorf("the timestamp was not renewed between attempts")
	}
	if f.deliveries("retried") != 3 || f.deliveries("delivered") != 1 || f.deliveries("dropped") != 0 {
		t.Errorf("deliveries retried=%v delivered=%v dropped=%v", f.deliveries("retried"), f.deliveries("delivered"), f.deliveries("dropped"))
	}
	entries, _ := f.log.Recent(context.Background(), 10)
	if len(entries) != 1 || entries[0].State != StateDelivered {
		t.Fatalf("recent %+v", entries)
	}
	if strings.Contains(f.logs.String(), "in-the-url") {
		t.Errorf("the webhook URL's query reached the log:\n%s", f.logs)
	}
}

// The jitter takes up to half of each wait off.
func TestBackoffJitterAndCap(t *testing.T) {
	b := backoff{base: time.Second, max: 10 * time.Second, rand: func() float64 { return 0.5 }}
	for retry, want := range map[int]time.Duration{1: 750 * time.Millisecond, 2: 1500 * time.Millisecond, 3: 3 * time.Second, 5: 7500 * time.Millisecond, 40: 7500 * time.Millisecond} {
		if got := b.delay(retry); got != want {
			t.Errorf("delay(%d) = %s, want %s", retry, got, want)
		}
	}
}

// An attempt that gets no answer within AttemptTimeout counts as failed and is retried.
func TestTimeoutIsRetried(t *testing.T) {
	rcv := newReceiver(t, func(n int, _ delivery) int {
		if n == 1 {
			return -1 // hang
		}
		return http.StatusOK
	})
	f := newFixture(t, openFile(t, tempEventsFile(t), nil), nil, Options{WebhookURL: rcv.url(), AttemptTimeout: 50 * time.Millisecond})
	if _, err := f.log.Emit(context.Background(), Event{Type: AccountDeleted, Account: "bob", Status: StatusDeleted}); err != nil {
		t.Fatal(err)
	}
	next := f.step(t)
	if f.deliveries("retried") != 1 || next.IsZero() {
		t.Fatalf("after a timeout: retried=%v next=%v", f.deliveries("retried"), next)
	}
	f.clock.Add(next.Sub(f.clock.Now()))
	f.step(t)
	if f.deliveries("delivered") != 1 {
		t.Fatalf("delivered=%v after the retry", f.deliveries("delivered"))
	}
}

// After WEBHOOK_RETRY_FOR the event is dropped: a last attempt at the deadline, a
// log line, the dropped metric, and the dropped state; nothing more is sent.
func TestDroppedAfterRetryFor(t *testing.T) {
	rcv := newReceiver(t, func(int, delivery) int { return http.StatusInternalServerError })
	f := newFixture(t, openFile(t, tempEventsFile(t), nil), nil, Options{
		WebhookURL: rcv.url(), RetryFor: time.Hour, RetryBase: time.Second, RetryMax: 10 * time.Minute,
	})
	e, err := f.log.Emit(context.Background(), Event{Type: AccountReauthRequired, Account: "carol", Status: StatusReauthRequired})
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for i := 0; i < 100; i++ {
		next := f.step(t)
		if next.IsZero() {
			break
		}
		last = next
		f.clock.Add(next.Sub(f.clock.Now()))
	}
	if want := e.Time.Add(time.Hour); !last.Equal(want) {
		t.Errorf("last attempt at %v, want at the deadline %v", last, want)
	}
	if f.deliveries("dropped") != 1 || f.deliveries("delivered") != 0 {
		t.Fatalf("dropped=%v delivered=%v", f.deliveries("dropped"), f.deliveries("delivered"))
	}
	if n := len(rcv.deliveries()); float64(n) != f.deliveries("retried")+1 {
		t.Errorf("%d requests for %v retries", n, f.deliveries("retried"))
	}
	if !strings.Contains(f.logs.String(), "event dropped") || !strings.Contains(f.logs.String(), e.ID) {
		t.Errorf("no drop log line naming the event:\n%s", f.logs)
	}
	entries, _ := f.log.Recent(context.Background(), 10)
	if len(entries) != 1 || entries[0].State != StateDropped {
		t.Fatalf("recent %+v", entries)
	}
	before := len(rcv.deliveries())
	f.clock.Add(24 * time.Hour)
	f.step(t)
	if len(rcv.deliveries()) != before {
		t.Fatal("a dropped event was sent again")
	}
}

// The payload has exactly the documented fields: no token can ride along.
func TestPayloadFields(t *testing.T) {
	rcv := newReceiver(t, nil)
	f := newFixture(t, openFile(t, tempEventsFile(t), nil), nil, Options{WebhookURL: rcv.url(), Lifetime: 4380 * time.Hour})
	auth := t0.Add(-time.Hour)
	if _, err := f.log.Emit(context.Background(), Event{Type: AccountLinked, Account: "alice", Status: StatusOK, AuthorizedAt: auth}); err != nil {
		t.Fatal(err)
	}
	f.step(t)
	got := rcv.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	var m map[string]any
	if err := json.Unmarshal(got[0].body, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"account", "authorized_at", "expires_at", "id", "status", "time", "type"}; !slices.Equal(keys, want) {
		t.Fatalf("payload keys %v, want %v", keys, want)
	}
	if m["expires_at"] != auth.Add(4380*time.Hour).Format(time.RFC3339Nano) || m["type"] != "account.linked" {
		t.Fatalf("payload %s", got[0].body)
	}
}

// With the file backend, undelivered events survive a restart and are delivered by
// the next process; the file is 0600.
func TestFileBackendSurvivesRestart(t *testing.T) {
	path := tempEventsFile(t)
	down := newReceiver(t, func(int, delivery) int { return http.StatusBadGateway })
	f1 := newFixture(t, openFile(t, path, nil), nil, Options{WebhookURL: down.url()})
	var ids []string
	for _, a := range []string{"a", "b", "c"} {
		e, err := f1.log.Emit(context.Background(), Event{Type: AccountLinked, Account: a, Status: StatusOK})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	f1.step(t)
	if len(down.deliveries()) != 3 || f1.deliveries("retried") != 3 {
		t.Fatalf("first process: %d requests", len(down.deliveries()))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("events file mode %v", fi.Mode().Perm())
	}
	// "Restart": a new backend and Log on the same file; the webhook is back.
	up := newReceiver(t, nil)
	f2 := newFixture(t, openFile(t, path, nil), nil, Options{WebhookURL: up.url()})
	f2.step(t)
	var got []string
	for _, d := range up.deliveries() {
		got = append(got, d.id)
	}
	slices.Sort(got)
	if !slices.Equal(got, ids) {
		t.Fatalf("after the restart delivered %v, want %v", got, ids)
	}
	// A third start has nothing left to send, and the ids go on growing.
	f3 := newFixture(t, openFile(t, path, nil), nil, Options{WebhookURL: up.url()})
	f3.step(t)
	if len(up.deliveries()) != 3 {
		t.Fatalf("delivered again after a clean restart: %d", len(up.deliveries()))
	}
	e, _ := f3.log.Emit(context.Background(), Event{Type: AccountDeleted, Account: "a", Status: StatusDeleted})
	last, _ := parseID(ids[2])
	if id, _ := parseID(e.ID); !last.less(id) {
		t.Fatalf("id %s after restart is not after %s", e.ID, ids[2])
	}
	if v := testutil.ToFloat64(f2.m.WebhookDeliveries.WithLabelValues("delivered")); v != 3 {
		t.Fatalf("delivered metric %v", v)
	}
}

// spotify_proxy_event_oldest_pending_seconds is the age of the oldest event
// not yet delivered, and 0 once everything is.
func TestOldestUndeliveredGauge(t *testing.T) {
	rcv := newReceiver(t, func(int, delivery) int { return http.StatusServiceUnavailable })
	f := newFixture(t, openFile(t, tempEventsFile(t), nil), nil, Options{WebhookURL: rcv.url()})
	ctx := context.Background()
	if _, err := f.log.Emit(ctx, Event{Type: AccountLinked, Account: "a", Status: StatusOK}); err != nil {
		t.Fatal(err)
	}
	f.step(t)
	f.clock.Add(90 * time.Second)
	f.log.updateGauge(ctx)
	if v := testutil.ToFloat64(f.m.EventsOldestUndelivered); v != 90 {
		t.Fatalf("oldest undelivered %v s, want 90", v)
	}
	rcv.setAnswer(nil)
	f.step(t)
	f.log.updateGauge(ctx)
	if v := testutil.ToFloat64(f.m.EventsOldestUndelivered); v != 0 {
		t.Fatalf("oldest undelivered %v s after delivery, want 0", v)
	}
}

// keepSpy tells when the deliverer says it still holds its events.
type keepSpy struct {
	Backend
	kept chan struct{}
}

func (k *keepSpy) keep(ctx context.Context, ids []string) ([]string, error) {
	select {
	case k.kept <- struct{}{}:
	default:
	}
	return k.Backend.keep(ctx, ids)
}

// While attempts run (a slow webhook), the held events are kept claimed every
// KeepEvery, so no other replica takes them over and delivers them a second time.
func TestHeldEventsAreKeptDuringSlowAttempts(t *testing.T) {
	fb, err := OpenFileBackend(filepath.Join(t.TempDir(), "events.json"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	spy := &keepSpy{Backend: fb, kept: make(chan struct{}, 1)}
	// The webhook answers only once the deliverer has said it still holds the event.
	rcv := newReceiver(t, func(int, delivery) int {
		select {
		case <-spy.kept:
			return http.StatusOK
		case <-time.After(10 * time.Second):
			return http.StatusServiceUnavailable
		}
	})
	f := newFixture(t, spy, nil, Options{WebhookURL: rcv.url(), KeepEvery: 5 * time.Millisecond})
	if _, err := f.log.Emit(context.Background(), Event{Type: AccountLinked, Account: "a", Status: StatusOK}); err != nil {
		t.Fatal(err)
	}
	f.step(t)
	if got := f.deliveries(metrics.DeliveryDelivered); got != 1 {
		t.Fatalf("delivered %v, want 1: the held event was not kept during the attempt", got)
	}
}
