package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/testclock"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

var t0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

func newTestGate(t *testing.T, cfg Config) (*Gate, *testclock.Fake, *metrics.Metrics) {
	t.Helper()
	clock := testclock.NewFake(t0)
	m := metrics.New(prometheus.NewRegistry())
	cfg.Clock, cfg.Metrics = clock, m
	if cfg.App == "" {
		cfg.App = "client-1"
	}
	return NewGate(cfg), clock, m
}

func rejected(t *testing.T, err error) *Rejected {
	t.Helper()
	var rej *Rejected
	if !errors.As(err, &rej) {
		t.Fatalf("want a rejection, got %v", err)
	}
	return rej
}

// parked waits until n requests are parked in the gate (on a change, not a timer).
func parked(t *testing.T, g *Gate, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		g.mu.Lock()
		w := g.waiting
		g.mu.Unlock()
		if w >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests parked, want %d", w, n)
		}
		runtime.Gosched()
	}
}

func TestOpenGateAdmitsWithoutWork(t *testing.T) {
	g, _, _ := newTestGate(t, Config{})
	p, err := g.Admit(context.Background(), "a")
	if err != nil || p.Probe() {
		t.Fatalf("open gate: %v probe=%v", err, p.Probe())
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = g.Admit(context.Background(), "a") }); n != 0 {
		t.Fatalf("Admit on an open gate allocates %v times", n)
	}
}

func TestBlockRejectsWithRemainingAndReason(t *testing.T) {
	g, clock, m := newTestGate(t, Config{})
	g.Record(context.Background(), 10*time.Second, "")
	rej := rejected(t, func() error { _, err := g.Admit(context.Background(), "a"); return err }())
	if rej.RetryAfter != 10*time.Second || rej.Reason != ReasonProxyRateLimited || rej.Cause != metrics.CauseUpstream429 {
		t.Fatalf("rejection %+v", rej)
	}
	clock.Advance(3500 * time.Millisecond)
	_, err := g.Admit(context.Background(), "a")
	if rej := rejected(t, err); rej.RetryAfter != 6500*time.Millisecond {
		t.Fatalf("after 3.5s: %v", rej.RetryAfter)
	}
	if n := testutil.ToFloat64(m.RateLimitedRequests(metrics.OutcomeRejected, metrics.CauseUpstream429)); n != 2 {
		t.Fatalf("rejected counter = %v", n)
	}
	// Spotify's own reason is carried over.
	g.Record(context.Background(), time.Minute, "QUOTA_EXCEEDED")
	_, err = g.Admit(context.Background(), "a")
	if rej := rejected(t, err); rej.Reason != "QUOTA_EXCEEDED" {
		t.Fatalf("reason %q", rej.Reason)
	}
}

func TestLaterBlockWins(t *testing.T) {
	g, _, _ := newTestGate(t, Config{})
	g.Record(context.Background(), 10*time.Second, "")
	g.Record(context.Background(), 2*time.Second, "")
	if got := g.Blocked().Until; !got.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("block until %v, want the later one", got)
	}
}

func TestWaitsWithinMaxWaitThenProbes(t *testing.T) {
	g, clock, m := newTestGate(t, Config{MaxWait: 5 * time.Second})
	g.Record(context.Background(), 3*time.Second, "")
	done := make(chan Pass)
	go func() {
		p, err := g.Admit(context.Background(), "a")
		if err != nil {
			t.Error(err)
		}
		done <- p
	}()
	clock.Waiters(1)
	select {
	case <-done:
		t.Fatal("admitted during the block")
	default:
	}
	clock.Advance(3 * time.Second)
	if p := <-done; !p.Probe() {
		t.Fatal("the first request after the block is not the probe")
	}
	if n := testutil.ToFloat64(m.RateLimitedRequests(metrics.OutcomeWaited, metrics.CauseUpstream429)); n != 1 {
		t.Fatalf("waited counter = %v", n)
	}
	if n := testutil.CollectAndCount(m.RateLimitWaitHistogram()); n != 1 {
		t.Fatalf("wait histogram has %d series", n)
	}
}

func TestCallerLeavingEndsTheWait(t *testing.T) {
	g, clock, _ := newTestGate(t, Config{MaxWait: time.Minute})
	g.Record(context.Background(), 30*time.Second, "")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { _, err := g.Admit(ctx, "a"); errc <- err }()
	clock.Waiters(1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func TestProbeGoesFirstThenPacedRelease(t *testing.T) {
	const interval = 20 * time.Millisecond
	g, clock, _ := newTestGate(t, Config{MaxWait: 5 * time.Second, ReleaseInterval: interval})
	g.Record(context.Background(), time.Second, "")
	passes := make(chan Pass, 5)
	for range 5 {
		go func() {
			p, err := g.Admit(context.Background(), "a")
			if err != nil {
				t.Error(err)
			}
			passes <- p
		}()
	}
	clock.Waiters(5)
	clock.Advance(time.Second)
	probe := <-passes
	if !probe.Probe() {
		t.Fatal("first admitted is not the probe")
	}
	parked(t, g, 4) // the others wait for the probe's answer
	if len(passes) != 0 {
		t.Fatal("a request went while the probe was out")
	}
	g.Done(probe, 200)
	// One goes at once, the rest one per interval.
	if p := <-passes; p.Probe() {
		t.Fatal("a second probe")
	}
	for i := 0; i < 3; i++ {
		clock.Waiters(3 - i)
		if len(passes) != 0 {
			t.Fatalf("release %d came before its slot", i+2)
		}
		clock.Advance(interval)
		<-passes
	}
	// The backlog is released: the gate is open again.
	clock.Advance(interval)
	if _, err := g.Admit(context.Background(), "a"); err != nil || g.active.Load() {
		t.Fatalf("gate not open after the release: %v", err)
	}
}

func TestProbe429RenewsTheBlockForTheWaiters(t *testing.T) {
	g, clock, _ := newTestGate(t, Config{MaxWait: 2 * time.Second})
	g.Record(context.Background(), time.Second, "")
	clock.Advance(time.Second)
	probe, err := g.Admit(context.Background(), "a")
	if err != nil || !probe.Probe() {
		t.Fatalf("probe: %v %v", err, probe.Probe())
	}
	errc := make(chan error)
	go func() { _, err := g.Admit(context.Background(), "a"); errc <- err }()
	parked(t, g, 1)
	g.Record(context.Background(), 30*time.Second, "") // Spotify answered the probe 429
	g.Done(probe, 429)
	if rej := rejected(t, <-errc); rej.RetryAfter != 30*time.Second {
		t.Fatalf("waiter after a renewed block: %+v", rej)
	}
}

func TestProbeWithoutAnswerLetsTheNextProbe(t *testing.T) {
	g, clock, _ := newTestGate(t, Config{})
	g.Record(context.Background(), time.Second, "")
	clock.Advance(time.Second)
	p1, _ := g.Admit(context.Background(), "a")
	g.Done(p1, 0)
	p2, err := g.Admit(context.Background(), "a")
	if err != nil || !p2.Probe() {
		t.Fatalf("after a probe without answer: %v probe=%v", err, p2.Probe())
	}
}

func TestBudgetRejectsAndWaits(t *testing.T) {
	clock := testclock.NewFake(t0)
	m := metrics.New(prometheus.NewRegistry())
	b := NewMemoryBudget(Limit{N: 2, Per: time.Second}, Limit{}, clock)
	g := NewGate(Config{App: "c", Budget: b, Clock: clock, Metrics: m})
	for i := 0; i < 2; i++ {
		if _, err := g.Admit(context.Background(), "a"); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	_, err := g.Admit(context.Background(), "a")
	rej := rejected(t, err)
	if rej.Cause != metrics.CauseBudget || rej.Reason != ReasonProxyRateLimited || rej.RetryAfter != 1010*time.Millisecond {
		t.Fatalf("over budget: %+v", rej)
	}
	// With MaxWait the request waits for its slot.
	gw := NewGate(Config{App: "c", Budget: b, Clock: clock, Metrics: m, MaxWait: 2 * time.Second})
	done := make(chan error)
	go func() { _, err := gw.Admit(context.Background(), "a"); done <- err }()
	clock.Waiters(1)
	clock.Advance(1010 * time.Millisecond) // the first call leaves the window (1s + 1%)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(m.RateLimitedRequests(metrics.OutcomeWaited, metrics.CauseBudget)); n != 1 {
		t.Fatalf("waited on budget = %v", n)
	}
}

func TestMemoryBudgetPerAccount(t *testing.T) {
	clock := testclock.NewFake(t0)
	b := NewMemoryBudget(Limit{N: 10, Per: time.Second}, Limit{N: 2, Per: time.Second}, clock)
	for i := 0; i < 2; i++ {
		if d, _ := b.Take(context.Background(), "busy"); d != 0 {
			t.Fatalf("busy call %d: wait %v", i, d)
		}
	}
	if d, _ := b.Take(context.Background(), "busy"); d == 0 {
		t.Fatal("busy account went past its share")
	}
	if d, _ := b.Take(context.Background(), "quiet"); d != 0 {
		t.Fatalf("another account is held by the busy one: %v", d)
	}
	// The refused call took nothing from the app budget: 10 - 3 taken.
	n := 0
	for _, acc := range []string{"c", "d", "e", "f", "g", "h", "i", "j"} {
		if d, _ := b.Take(context.Background(), acc); d == 0 {
			n++
		}
	}
	if n != 7 {
		t.Fatalf("app budget left %d, want 7", n)
	}
}

type failingBudget struct{}

func (failingBudget) Take(context.Context, string) (time.Duration, error) {
	return 0, errors.New("connection refused")
}

func (failingBudget) Usage(context.Context) (BudgetUsage, error) {
	return BudgetUsage{Used: -1}, errors.New("connection refused")
}

func TestBudgetFailsOpen(t *testing.T) {
	g, _, m := newTestGate(t, Config{Budget: failingBudget{}})
	if _, err := g.Admit(context.Background(), "a"); err != nil {
		t.Fatalf("a failing budget stopped the request: %v", err)
	}
	if n := testutil.ToFloat64(m.StoreErrors.WithLabelValues(metrics.OpRateLimit)); n != 1 {
		t.Fatalf("store errors = %v", n)
	}
}

type failingSharer struct{}

func (failingSharer) Share(context.Context, string, Block) (Block, error) {
	return Block{}, errors.New("connection refused")
}
func (failingSharer) Follow(context.Context, string, func(Notice)) error {
	return errors.New("connection refused")
}

func TestStoreDownBlockHoldsThisReplica(t *testing.T) {
	g, _, m := newTestGate(t, Config{Sharer: failingSharer{}})
	g.Record(context.Background(), 5*time.Second, "")
	if _, err := g.Admit(context.Background(), "a"); err == nil {
		t.Fatal("not blocked after a 429 while the store is down")
	}
	if n := testutil.ToFloat64(m.StoreErrors.WithLabelValues(metrics.OpRateLimit)); n != 1 {
		t.Fatalf("store errors = %v", n)
	}
}

func TestParseRetryAfter(t *testing.T) {
	for _, c := range []struct {
		v    string
		want time.Duration
	}{
		{"", time.Second}, {"soon", time.Second}, {"-4", time.Second}, {"0", 0}, {"7", 7 * time.Second},
		{" 30 ", 30 * time.Second}, {"99999999", 24 * time.Hour},
		{t0.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
	} {
		if got := ParseRetryAfter(c.v, t0); got != c.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", c.v, got, c.want)
		}
	}
}

func TestReasonFromBody(t *testing.T) {
	for body, want := range map[string]string{
		`{"error":{"status":429,"message":"quota","reason":"QUOTA_EXCEEDED"}}`: "QUOTA_EXCEEDED",
		`{"error":{"status":429,"message":"API rate limit exceeded"}}`:         "",
		`{"error":{"reason":"x\r\nSet-Cookie: a"}}`:                            "",
		`not json "reason"`: "",
	} {
		if got := ReasonFromBody([]byte(body)); got != want {
			t.Errorf("%s: %q, want %q", body, got, want)
		}
	}
}

func TestRetryBudget(t *testing.T) {
	clock := testclock.NewFake(t0)
	b := NewRetryBudget(0.1, 2, 10*time.Second, clock.Now)
	for range 100 {
		b.Request()
	}
	n := 0
	for b.Withdraw() {
		n++
	}
	if n != 12 {
		t.Fatalf("retries allowed for 100 requests = %d, want 10%% + 2", n)
	}
	clock.Advance(11 * time.Second) // the window slides past them
	for range 10 {
		b.Request()
	}
	n = 0
	for b.Withdraw() {
		n++
	}
	if n != 3 {
		t.Fatalf("after the window: %d, want 3", n)
	}
}

func TestParseLimit(t *testing.T) {
	l, err := ParseLimit("150/30s")
	if err != nil || l != (Limit{N: 150, Per: 30 * time.Second}) || l.String() != "150/30s" {
		t.Fatalf("%v %v", l, err)
	}
	for in, want := range map[string]Limit{"1/s": {1, time.Second}, "60/m": {60, time.Minute}, "100/ h": {100, time.Hour}, "10/1s": {10, time.Second}} {
		if l, err := ParseLimit(in); err != nil || l != want {
			t.Errorf("%q: %v %v, want %v", in, l, err, want)
		}
	}
	for _, bad := range []string{"150", "x/1s", "0/1s", "5/", "5/0s", "5/-s", "5/ms5"} {
		if _, err := ParseLimit(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
