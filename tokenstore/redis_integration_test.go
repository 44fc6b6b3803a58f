package tokenstore_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/redistest"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// Integration tests: real redis-server processes (internal/redistest). Skipped
// under -short.

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs redis-server")
	}
}

func newRedisClient(t *testing.T, o tokenstore.RedisOptions) redis.UniversalClient {
	t.Helper()
	c, err := tokenstore.NewRedisClient(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRedisStandaloneServer(t *testing.T) {
	skipShort(t)
	srv := redistest.StartServer(t)
	c := newRedisClient(t, tokenstore.RedisOptions{URL: "redis://" + srv.Addr()})
	t.Run("Store", func(t *testing.T) { testRedisStore(t, c) })
	t.Run("Locker", func(t *testing.T) { testRedisLocker(t, c, time.Sleep) })
	t.Run("Notifier", func(t *testing.T) { testRedisNotifier(t, c) })
	t.Run("TwoReplicas", func(t *testing.T) { testTwoReplicasRefreshOnce(t, c) })
	t.Run("TraceLinks", func(t *testing.T) { testTraceWaiterLinksToThePeersRefresh(t, c) })
	t.Run("ValidationClaim", func(t *testing.T) { testRedisValidationClaim(t, c) })
}

func TestRedisCluster(t *testing.T) {
	skipShort(t)
	cl := redistest.StartCluster(t)
	c := newRedisClient(t, tokenstore.RedisOptions{Addrs: cl.Addrs()})
	if _, ok := c.(*redis.ClusterClient); !ok {
		t.Fatalf("several addresses gave a %T, want a cluster client", c)
	}
	ctx := context.Background()
	// Record and lock share a slot (the scripts and the lock touch one node); the
	// index has another slot in general, which the store must cope with.
	slot := func(k string) int64 { return c.ClusterKeySlot(ctx, k).Val() }
	p := tokenstore.DefaultKeyPrefix
	if slot(p+"{acct}:token") != slot(p+"{acct}:lock") {
		t.Fatal("record and lock keys are in different slots")
	}
	t.Run("Store", func(t *testing.T) { testRedisStore(t, c) })
	t.Run("Locker", func(t *testing.T) { testRedisLocker(t, c, time.Sleep) })
	t.Run("Notifier", func(t *testing.T) { testRedisNotifier(t, c) })
	t.Run("TwoReplicas", func(t *testing.T) { testTwoReplicasRefreshOnce(t, c) })
	t.Run("TraceLinks", func(t *testing.T) { testTraceWaiterLinksToThePeersRefresh(t, c) })
	t.Run("ValidationClaim", func(t *testing.T) { testRedisValidationClaim(t, c) })
	t.Run("ListAcrossSlots", func(t *testing.T) {
		st := tokenstore.NewRedisStore(c, testPrefix(), nil)
		var want []string
		for i := range 30 {
			id := "user-" + strconv.Itoa(100+i)
			if _, err := st.Put(ctx, sampleRecord(id), 0); err != nil {
				t.Fatal(err)
			}
			want = append(want, id)
		}
		slots := map[int64]bool{}
		for _, id := range want {
			slots[slot(p+"{"+id+"}:token")] = true
		}
		if len(slots) < 3 {
			t.Fatalf("the accounts landed in %d slots; the test wants several", len(slots))
		}
		var got []string
		for cursor := ""; ; {
			recs, next, err := st.List(ctx, cursor, 7)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Status != tokenstore.StatusOK {
					t.Fatalf("record %s not decoded", r.Account)
				}
				got = append(got, r.Account)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("listed %v, want %v", got, want)
		}
	})
}

// TestRedisKilledAndRestartedUnderLoad: callers keep getting valid cached tokens
// while Redis is down; a refresh token rotated while Redis is down is kept in
// memory and written when Redis is back.
func TestRedisKilledAndRestartedUnderLoad(t *testing.T) {
	skipShort(t)
	// AOF with fsync per write: the data survives SIGKILL, as in a production setup.
	srv := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
	ctx := context.Background()
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	prefix := testPrefix()
	opts := replicaOptions{
		notify: true,
		lock:   tokenstore.RedisLockerOptions{TTL: time.Second, Wait: 2 * time.Second},
		config: func(cfg *tokenstore.Config) {
			cfg.RetryBase, cfg.RetryMax, cfg.RefreshTimeout = 20*time.Millisecond, 200*time.Millisecond, 5*time.Second
		},
	}
	url := "redis://" + srv.Addr()
	a := newReplica(t, newRedisClient(t, tokenstore.RedisOptions{URL: url}), prefix, sp, clk.Now, opts)
	b := newReplica(t, newRedisClient(t, tokenstore.RedisOptions{URL: url}), prefix, sp, clk.Now, opts)
	if _, err := a.src.Seed(ctx, "default", sp.issue()); err != nil {
		t.Fatal(err)
	}
	t1, err := a.src.Token(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := b.src.Token(ctx, "default"); err != nil || c.AccessToken != t1.AccessToken {
		t.Fatalf("replica B: %v", err)
	}

	// Load on both replicas for the whole test.
	var calls, failures atomic.Int64
	var firstErr atomic.Pointer[error]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 16 {
		r := []*replica{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := r.src.Token(cctx, "default")
				cancel()
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, &err)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopLoad)

	// 1. Redis dies; the tokens enter the refresh-ahead window. Both replicas try
	// the store, fail, and keep serving the cached token.
	srv.Kill()
	clk.Add(56 * time.Minute) // 4 minutes left
	waitUntil(t, "both replicas to try the dead store", func() bool {
		return a.storeErrors(metrics.OpRead) >= 1 && b.storeErrors(metrics.OpRead) >= 1
	})
	if n := sp.calls.Load(); n != 1 {
		t.Fatalf("token calls while Redis is down = %d, want 1 (none new)", n)
	}

	// 2. Redis returns, and dies again while a replica is in the token call: the
	// rotated refresh token cannot be stored.
	var killed atomic.Bool
	sp.onRefresh = func() {
		if killed.CompareAndSwap(false, true) {
			srv.Kill()
		}
	}
	srv.Restart()
	clk.Add(2 * time.Minute) // past every backoff; t1 still has 2 minutes
	waitUntil(t, "a refresh while Redis dies", func() bool { return sp.calls.Load() == 2 && killed.Load() })
	issued := sp.issuedTokens()
	t2 := issued[len(issued)-1]
	waitUntil(t, "the refreshing replica to serve the new token from memory", func() bool {
		for _, r := range []*replica{a, b} {
			if c, err := r.src.Token(ctx, "default"); err == nil && c.AccessToken == t2 {
				return true
			}
		}
		return false
	})

	// 3. Redis returns: the pending rotated token is written, and every replica
	// moves to it without another token call.
	srv.Restart()
	waitUntil(t, "the pending rotated refresh token to be stored", func() bool {
		rec, err := a.store.Get(ctx, "default")
		return err == nil && rec.AccessToken == t2 && sp.isLive(rec.RefreshToken)
	})
	clk.Add(time.Second) // past the other replica's backoff
	waitUntil(t, "both replicas to serve the new token", func() bool {
		ca, errA := a.src.Token(ctx, "default")
		cb, errB := b.src.Token(ctx, "default")
		return errA == nil && errB == nil && ca.AccessToken == t2 && cb.AccessToken == t2
	})
	stopLoad()
	t.Logf("token calls %d, failures %d, token-endpoint calls %d, invalid_grant %d, store errors A %v/%v B %v/%v (read/write)",
		calls.Load(), failures.Load(), sp.calls.Load(), sp.invalid.Load(),
		a.storeErrors(metrics.OpRead), a.storeErrors(metrics.OpWrite), b.storeErrors(metrics.OpRead), b.storeErrors(metrics.OpWrite))
	if failures.Load() != 0 {
		t.Fatalf("%d Token calls failed, first: %v", failures.Load(), *firstErr.Load())
	}
	if sp.invalid.Load() != 0 || sp.calls.Load() != 2 {
		t.Fatalf("token calls %d, invalid_grant %d; want 2 and 0", sp.calls.Load(), sp.invalid.Load())
	}
	if a.storeErrors(metrics.OpWrite)+b.storeErrors(metrics.OpWrite) < 1 {
		t.Fatal("the write while Redis was down was not counted as a store error")
	}
}

// TestStormRedis: 8 replicas and 64 callers on one Redis against a Spotify that
// answers in 3 s, rotates refresh tokens and revokes the old one, with 8 s tokens
// and a 1 s lock TTL (so the lock lives on extensions), for over 30 s.
func TestStormRedis(t *testing.T) {
	skipShort(t)
	srv := redistest.StartServer(t)
	const (
		replicas = 8
		callers  = 64
		duration = 32 * time.Second
		lifetime = 8 * time.Second
		ahead    = 3 * time.Second
		latency  = 3 * time.Second
	)
	sp := newFakeSpotify(time.Now, lifetime)
	sp.latency = latency
	var inflight atomic.Int64
	sp.gate = func(int64) { inflight.Add(1) }
	ctx := context.Background()
	prefix := testPrefix()
	opts := replicaOptions{
		notify: true,
		// The lock TTL (1 s) is shorter than a token call (3 s): holders keep it by
		// extension. Waiters must outwait a live holder's token call, or they give
		// up while the current token runs out (see RedisLockerOptions.Wait).
		lock: tokenstore.RedisLockerOptions{TTL: time.Second, Wait: 2 * latency},
		config: func(cfg *tokenstore.Config) {
			cfg.RefreshAhead, cfg.RefreshTimeout = ahead, 15*time.Second
		},
	}
	var reps []*replica
	for range replicas {
		c := newRedisClient(t, tokenstore.RedisOptions{URL: "redis://" + srv.Addr()})
		reps = append(reps, newReplica(t, c, prefix, sp, time.Now, opts))
	}
	if _, err := reps[0].src.Seed(ctx, "default", sp.issue()); err != nil {
		t.Fatal(err)
	}

	var calls, failures atomic.Int64
	var firstErr atomic.Pointer[error]
	seen := make([]map[string]bool, callers)
	start := time.Now()
	end := start.Add(duration)
	var wg sync.WaitGroup
	for i := range callers {
		r := reps[i%replicas]
		seen[i] = map[string]bool{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				c, err := r.src.Token(cctx, "default")
				cancel()
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, &err)
				} else {
					seen[i][c.AccessToken] = true
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	// Let a refresh still in flight finish and store its rotated token.
	waitUntil(t, "the last refresh to be stored", func() bool {
		issued := sp.issuedTokens()
		rec, err := reps[0].store.Get(ctx, "default")
		return int64(len(issued))+sp.invalid.Load() == sp.calls.Load() && err == nil &&
			rec.AccessToken == issued[len(issued)-1] && sp.isLive(rec.RefreshToken)
	})
	issued := sp.issuedTokens()
	union := map[string]bool{}
	for _, s := range seen {
		for tok := range s {
			union[tok] = true
		}
	}
	var races = map[string]float64{}
	var invalidGrant float64
	for _, r := range reps {
		for _, o := range metrics.RaceOutcomes {
			races[o] += r.race(o)
		}
		for _, tr := range metrics.RefreshTriggers {
			invalidGrant += r.refreshes(tr, metrics.ResultInvalidGrant)
		}
	}
	t.Logf("storm: %d replicas, %d callers, %s wall: %d token calls, %d errors, %d token-endpoint calls, %d refresh events (distinct access tokens issued), %d distinct tokens served, %d invalid_grant (metric %v); races %v",
		replicas, callers, wall.Round(time.Millisecond), calls.Load(), failures.Load(), sp.calls.Load(), len(issued), len(union), sp.invalid.Load(), invalidGrant, races)

	if failures.Load() != 0 {
		t.Fatalf("%d Token calls failed, first: %v", failures.Load(), *firstErr.Load())
	}
	if sp.invalid.Load() != 0 || invalidGrant != 0 {
		t.Fatalf("invalid_grant answered %d times", sp.invalid.Load())
	}
	if int(sp.calls.Load()) != len(issued) {
		t.Fatalf("token-endpoint calls %d != refresh events %d", sp.calls.Load(), len(issued))
	}
	// One refresh per event: a token is refreshed RefreshAhead before its expiry
	// and the call takes `latency`, so events come every lifetime (8 s).
	if maxEvents := int(wall/lifetime) + 2; len(issued) > maxEvents || len(issued) < 3 {
		t.Fatalf("%d refresh events in %s, want 3..%d", len(issued), wall, maxEvents)
	}
	for i, tok := range issued[:len(issued)-1] { // the last may come after the callers stopped
		if !union[tok] {
			t.Fatalf("refresh event %d (%s) was never served: a wasted refresh", i+1, tok)
		}
	}
	rec, err := reps[0].store.Get(ctx, "default")
	if err != nil || !sp.isLive(rec.RefreshToken) || rec.Status != tokenstore.StatusOK {
		t.Fatalf("final record %v (%v): the stored refresh token is not the live one", rec, err)
	}
}

// TestRedisWarmTokenCommandStats counts commands on the real server: warm Token
// calls make none.
func TestRedisWarmTokenCommandStats(t *testing.T) {
	skipShort(t)
	srv := redistest.StartServer(t)
	c := newRedisClient(t, tokenstore.RedisOptions{URL: "redis://" + srv.Addr()})
	ctx := context.Background()
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	prefix := testPrefix()
	r := newReplica(t, c, prefix, sp, clk.Now, replicaOptions{notify: true, config: func(cfg *tokenstore.Config) {
		cfg.ScanInterval, cfg.RecheckAfter = -1, 24*time.Hour
	}})
	if _, err := r.src.Seed(ctx, "default", sp.issue()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.src.Token(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	channel := prefix + "invalidate"
	waitUntil(t, "the invalidation subscription", func() bool { return c.PubSubNumSub(ctx, channel).Val()[channel] == 1 })
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	const n = 10000
	for range n {
		if _, err := r.src.Token(ctx, "default"); err != nil {
			t.Fatal(err)
		}
	}
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	var cmds []string
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok || strings.HasPrefix(name, "cmdstat_config") || name == "cmdstat_info" { // the test's own
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		k, err := strconv.Atoi(calls)
		if err != nil {
			t.Fatalf("commandstats line %q", line)
		}
		total += k
		cmds = append(cmds, name+"="+calls)
	}
	t.Logf("%d warm Token calls: %d Redis commands (%.4f per call) %v", n, total, float64(total)/n, cmds)
	if total != 0 {
		t.Fatalf("warm Token calls made %d Redis commands, want 0", total)
	}
}

// TestRedisPausedServer: a Redis that stops answering (SIGSTOP) makes store calls
// fail within the client timeouts instead of hanging, and cached tokens keep being
// served.
func TestRedisPausedServer(t *testing.T) {
	skipShort(t)
	srv := redistest.StartServer(t)
	c := newRedisClient(t, tokenstore.RedisOptions{URL: "redis://" + srv.Addr()})
	ctx := context.Background()
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	r := newReplica(t, c, testPrefix(), sp, clk.Now, replicaOptions{})
	if _, err := r.src.Seed(ctx, "default", sp.issue()); err != nil {
		t.Fatal(err)
	}
	cached, err := r.src.Token(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	defer srv.Resume()
	start := time.Now()
	_, err = r.store.Get(ctx, "default")
	took := time.Since(start)
	t.Logf("Get on a paused server: %v after %s", err, took.Round(time.Millisecond))
	if err == nil || errors.Is(err, tokenstore.ErrNotFound) || took > 10*time.Second {
		t.Fatalf("Get on a paused server: %v after %s, want an error within the timeouts", err, took)
	}
	for range 100 {
		if c, err := r.src.Token(ctx, "default"); err != nil || c != cached {
			t.Fatalf("cached token not served while Redis is paused: %v", err)
		}
	}
	srv.Resume()
	waitUntil(t, "the store to answer after resume", func() bool { return r.store.Ping(ctx) == nil })
}
