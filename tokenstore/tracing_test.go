package tokenstore_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/spantest"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// spans records one process's ended spans.
type spans struct {
	*tracetest.SpanRecorder
	tp *sdktrace.TracerProvider
}

func newSpans(t testing.TB) *spans {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return &spans{rec, tp}
}

// traced is a replicaOptions.config tracing the Source into s.
func (s *spans) traced(accountIDs bool) func(*tokenstore.Config) {
	return func(cfg *tokenstore.Config) {
		cfg.Tracing = tokenstore.Tracing{Provider: s.tp, AccountIDs: accountIDs}
	}
}

// request runs fn in a caller's span (as the proxy's token span would be) and
// returns the spans of its trace, the caller's included.
func (s *spans) request(t *testing.T, fn func(ctx context.Context)) (caller sdktrace.ReadOnlySpan, all []sdktrace.ReadOnlySpan) {
	t.Helper()
	ctx, span := s.tp.Tracer("test").Start(context.Background(), "request")
	fn(ctx)
	span.End()
	id := span.SpanContext().TraceID()
	for _, sp := range s.Ended() {
		if sp.SpanContext().TraceID() == id {
			all = append(all, sp)
		}
		if sp.SpanContext().SpanID() == span.SpanContext().SpanID() {
			caller = sp
		}
	}
	slices.SortStableFunc(all, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	return caller, all
}

// spanTree renders spans as names indented under their parents.
func spanTree(spans []sdktrace.ReadOnlySpan) string {
	return spantest.Tree(spans, sdktrace.ReadOnlySpan.Name)
}

// tracedReplica is a traced Source on miniredis with the account "default" seeded
// (account ids recorded when accountIDs), its spans, token endpoint and clock.
func tracedReplica(t *testing.T, accountIDs bool) (*replica, *spans, *fakeSpotify, *clock) {
	t.Helper()
	_, c := newMiniredis(t)
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	s := newSpans(t)
	r := newReplica(t, c, testPrefix(), sp, clk.Now, replicaOptions{config: s.traced(accountIDs)})
	if _, err := r.src.Seed(context.Background(), "default", sp.issue()); err != nil {
		t.Fatal(err)
	}
	return r, s, sp, clk
}

// tracedLookup is one traced request's spans: the caller's and all of the trace's.
type tracedLookup struct {
	caller sdktrace.ReadOnlySpan
	all    []sdktrace.ReadOnlySpan
}

// lookupInBackground runs a traced request for src's "default" token in the
// background; its spans arrive on the channel when it ends.
func (s *spans) lookupInBackground(t *testing.T, src *tokenstore.Source) <-chan tracedLookup {
	out := make(chan tracedLookup, 1)
	go func() {
		caller, all := s.request(t, func(ctx context.Context) {
			if _, err := src.Token(ctx, "default"); err != nil {
				t.Error(err)
			}
		})
		out <- tracedLookup{caller, all}
	}()
	return out
}

func spanNamed(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, sp := range spans {
		if sp.Name() == name {
			return sp
		}
	}
	t.Fatalf("no span %q in\n%s", name, spanTree(spans))
	return nil
}

// wantAttrs checks attributes of sp, given as key=value (value as attribute.Value
// prints it); key=- means absent.
func wantAttrs(t *testing.T, sp sdktrace.ReadOnlySpan, want ...string) {
	t.Helper()
	got := map[attribute.Key]string{}
	for _, kv := range sp.Attributes() {
		got[kv.Key] = kv.Value.String()
	}
	for _, w := range want {
		k, v, _ := strings.Cut(w, "=")
		g, ok := got[attribute.Key(k)]
		if v == "-" && ok || v != "-" && g != v {
			t.Errorf("span %q: %s = %q (present %v), want %q", sp.Name(), k, g, ok, v)
		}
	}
}

const refreshTree = `request
  token refresh
    token store read
    token refresh lock
    token store reread
    token endpoint
    token store write
`

// A cold lookup is one refresh span under the caller's, with each step of the
// protocol as a child; a warm one starts no span; the refresh's span is stored with
// the token (a refresh that is not sampled stores none); a 401 refreshes again.
func TestTraceColdWarmAndUnauthorized(t *testing.T) {
	ctx := context.Background()
	r, s, _, clk := tracedReplica(t, false)

	var cred *tokenstore.Credential
	_, all := s.request(t, func(ctx context.Context) {
		var err error
		if cred, err = r.src.Token(ctx, "default"); err != nil {
			t.Fatal(err)
		}
	})
	if got := spanTree(all); got != refreshTree {
		t.Fatalf("cold span tree:\n%s\nwant:\n%s", got, refreshTree)
	}
	refresh := spanNamed(t, all, tokenstore.SpanRefresh)
	wantAttrs(t, refresh, "spotify_proxy.refresh.cause=expired", "spotify_proxy.refresh.outcome=written", "spotify_proxy.account=-")
	wantAttrs(t, spanNamed(t, all, tokenstore.SpanRead), "spotify_proxy.record.version=1")
	wantAttrs(t, spanNamed(t, all, tokenstore.SpanLock), "spotify_proxy.lock.result=acquired")
	wantAttrs(t, spanNamed(t, all, tokenstore.SpanReread), "spotify_proxy.record.changed=false", "spotify_proxy.record.version=1")
	wantAttrs(t, spanNamed(t, all, tokenstore.SpanEndpoint), "spotify_proxy.token.grant=refresh_token",
		"spotify_proxy.refresh.result=success", "spotify_proxy.refresh.rotated=true")
	wantAttrs(t, spanNamed(t, all, tokenstore.SpanWrite), "spotify_proxy.write.result=written", "spotify_proxy.record.version=2")
	rec, err := r.store.Get(ctx, "default")
	sc := refresh.SpanContext()
	if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; err != nil || rec.TraceParent != want {
		t.Fatalf("stored traceparent %q (%v), want the refresh span's %q", rec.TraceParent, err, want)
	}

	caller, all := s.request(t, func(ctx context.Context) {
		if c, err := r.src.Token(ctx, "default"); err != nil || c != cred {
			t.Fatalf("warm lookup: %v %v", c, err)
		}
	})
	if got := spanTree(all); got != "request\n" || len(caller.Links()) != 0 {
		t.Fatalf("warm span tree:\n%s\nwant the caller's span alone", got)
	}

	_, all = s.request(t, func(ctx context.Context) {
		if c, err := r.src.Invalidate(ctx, "default", cred.AccessToken, clk.Now()); err != nil || c.AccessToken == cred.AccessToken {
			t.Fatalf("after a 401: %v %v", c, err)
		}
	})
	if got := spanTree(all); got != refreshTree {
		t.Fatalf("401 span tree:\n%s\nwant:\n%s", got, refreshTree)
	}
	wantAttrs(t, spanNamed(t, all, tokenstore.SpanRefresh), "spotify_proxy.refresh.cause=unauthorized", "spotify_proxy.refresh.outcome=written")

	// A refresh for a caller that is not sampled, or not traced at all, records
	// nothing and stores no traceparent (not the previous token's either).
	before := len(s.Ended())
	unsampled := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, Remote: true,
	}))
	for i, ctx := range []context.Context{unsampled, context.Background()} {
		clk.Add(2 * time.Hour)
		if _, err := r.src.Token(ctx, "default"); err != nil {
			t.Fatal(err)
		}
		rec, err = r.store.Get(ctx, "default")
		if want := int64(4 + i); err != nil || rec.Version != want || rec.TraceParent != "" {
			t.Fatalf("after an untraced refresh: v%d traceparent %q (%v), want v%d and none", rec.Version, rec.TraceParent, err, want)
		}
	}
	if n := len(s.Ended()) - before; n != 0 {
		t.Fatalf("untraced refreshes recorded %d spans", n)
	}
}

// A caller that joins a flight another caller started gets no refresh span of its
// own: its span is marked coalesced and links to the flight's.
func TestTraceCoalescedCallerLinksToTheFlight(t *testing.T) {
	r, s, sp, _ := tracedReplica(t, true)
	in, release := make(chan struct{}), make(chan struct{})
	sp.gate = func(int64) { close(in); <-release }
	first := s.lookupInBackground(t, r.src)
	<-in // the first caller's flight is in the token call
	second := s.lookupInBackground(t, r.src)
	waitUntil(t, "the second caller to join the flight", func() bool { return r.race(metrics.RaceCoalesced) == 1 })
	close(release)
	j := <-second
	joiner, all := j.caller, j.all
	if got := spanTree(all); got != "request\n" {
		t.Fatalf("joiner's span tree:\n%s\nwant its own span only", got)
	}
	refresh := spanNamed(t, (<-first).all, tokenstore.SpanRefresh)
	wantAttrs(t, refresh, "spotify_proxy.account=default")
	wantAttrs(t, joiner, "spotify_proxy.refresh.coalesced=true")
	wantLink(t, joiner, refresh, "coalesced")
}

func wantLink(t *testing.T, from, to sdktrace.ReadOnlySpan, race string) {
	t.Helper()
	for _, l := range from.Links() {
		if l.SpanContext.TraceID() == to.SpanContext().TraceID() && l.SpanContext.SpanID() == to.SpanContext().SpanID() {
			if len(l.Attributes) != 1 || l.Attributes[0] != tokenstore.AttrRace.String(race) {
				t.Errorf("link from %q to %q has attributes %v, want race %s", from.Name(), to.Name(), l.Attributes, race)
			}
			return
		}
	}
	t.Errorf("span %q (links %v) does not link to %q %s", from.Name(), from.Links(), to.Name(), to.SpanContext().SpanID())
}

// Two replicas: B waits for the lock A holds during its refresh, then finds A's
// token stored. B's refresh span has no token call and links to A's refresh span,
// which A stored with the record.
func TestTraceWaiterLinksToThePeersRefresh(t *testing.T) {
	_, c := newMiniredis(t)
	testTraceWaiterLinksToThePeersRefresh(t, c)
}

func testTraceWaiterLinksToThePeersRefresh(t *testing.T, client redis.UniversalClient) {
	ctx := context.Background()
	prefix := testPrefix()
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	sa, sb := newSpans(t), newSpans(t) // two processes, two exporters
	a := newReplica(t, client, prefix, sp, clk.Now, replicaOptions{config: sa.traced(false)})
	b := newReplica(t, client, prefix, sp, clk.Now, replicaOptions{config: sb.traced(false)})
	if _, err := a.src.Seed(ctx, "default", sp.issue()); err != nil {
		t.Fatal(err)
	}
	in, release := make(chan struct{}), make(chan struct{})
	sp.gate = func(int64) { close(in); <-release }
	fromA := sa.lookupInBackground(t, a.src)
	<-in // A holds the lock and is in the token call
	fromB := sb.lookupInBackground(t, b.src)
	waitUntil(t, "replica B at the lock", func() bool { return b.locker.entered.Load() == 1 })
	close(release)
	all := (<-fromB).all
	if sp.calls.Load() != 1 || b.race(metrics.RacePeerRefreshed) != 1 {
		t.Fatalf("want B to take A's token: calls %d, peer_refreshed %v", sp.calls.Load(), b.race(metrics.RacePeerRefreshed))
	}
	want := "request\n  token refresh\n    token store read\n    token refresh lock\n    token store reread\n"
	if got := spanTree(all); got != want {
		t.Fatalf("replica B's span tree:\n%s\nwant:\n%s", got, want)
	}
	holder := spanNamed(t, (<-fromA).all, tokenstore.SpanRefresh)
	waiter := spanNamed(t, all, tokenstore.SpanRefresh)
	wantAttrs(t, waiter, "spotify_proxy.refresh.outcome=peer_refreshed")
	wantAttrs(t, spanNamed(t, all, tokenstore.SpanLock), "spotify_proxy.lock.result=acquired")
	wantAttrs(t, spanNamed(t, all, tokenstore.SpanReread), "spotify_proxy.record.changed=true", "spotify_proxy.record.version=2")
	wantLink(t, waiter, holder, "peer_refreshed")
	if holder.SpanContext().TraceID() == waiter.SpanContext().TraceID() {
		t.Fatal("the replicas' requests should be separate traces")
	}
}

// With tracing on and the caller sampled, a warm lookup still starts no span and
// allocates nothing.
func TestTraceWarmTokenAllocatesNothing(t *testing.T) {
	_, c := newMiniredis(t)
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	s := newSpans(t)
	r := newReplica(t, c, testPrefix(), sp, clk.Now, replicaOptions{config: s.traced(true)})
	ctx, span := s.tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	if _, err := r.src.Seed(ctx, "default", sp.issue()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.src.Token(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	ended := len(s.Ended())
	if n := testing.AllocsPerRun(100, func() { _, _ = r.src.Token(ctx, "default") }); n != 0 {
		t.Fatalf("a warm traced lookup allocates %v times", n)
	}
	if n := len(s.Ended()) - ended; n != 0 {
		t.Fatalf("warm lookups ended %d spans", n)
	}
}

// BenchmarkTokenRedisWarmTraced is BenchmarkTokenRedisWarm with tracing on and every
// lookup made in a sampled caller's span.
func BenchmarkTokenRedisWarmTraced(b *testing.B) {
	s := newSpans(b)
	ctx, span := s.tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	benchmarkTokenRedisWarm(b, ctx, s.traced(true))
}

// A refresh ahead of expiry runs in the background, in the trace of the lookup that
// triggered it (which it outlives).
func TestTraceRefreshAheadIsAChildOfTheLookup(t *testing.T) {
	ctx := context.Background()
	r, s, _, clk := tracedReplica(t, false)
	if _, err := r.src.Token(ctx, "default"); err != nil { // untraced: no span
		t.Fatal(err)
	}
	clk.Add(58 * time.Minute) // within RefreshAhead of the expiry
	caller, _ := s.request(t, func(ctx context.Context) {
		if _, err := r.src.Token(ctx, "default"); err != nil {
			t.Fatal(err)
		}
	})
	var refresh sdktrace.ReadOnlySpan
	waitUntil(t, "the background refresh's span", func() bool {
		for _, sp := range s.Ended() {
			if sp.Name() == tokenstore.SpanRefresh {
				refresh = sp
			}
		}
		return refresh != nil
	})
	if refresh.Parent().SpanID() != caller.SpanContext().SpanID() || refresh.Parent().TraceID() != caller.SpanContext().TraceID() {
		t.Fatalf("background refresh's parent %v, want the lookup's span %v", refresh.Parent(), caller.SpanContext())
	}
	wantAttrs(t, refresh, "spotify_proxy.refresh.cause=ahead", "spotify_proxy.refresh.outcome=written")
}
