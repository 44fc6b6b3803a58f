package tokenstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// The suites (store, locker, notifier, two replicas) take a client so that the
// integration tests run them unchanged on a real server and on a Cluster.

func newMiniredis(t *testing.T) (*miniredis.Miniredis, redis.UniversalClient) {
	t.Helper()
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	return m, c
}

var prefixSeq atomic.Int64

// testPrefix gives every suite run keys of its own.
func testPrefix() string { return fmt.Sprintf("stp-test-%d:", prefixSeq.Add(1)) }

func aesKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func mustCodec(t *testing.T, keys ...[]byte) *tokenstore.Codec {
	t.Helper()
	c, err := tokenstore.NewCodec(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitUntil polls cond until it holds or 10 s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func sampleRecord(account string) tokenstore.Record {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return tokenstore.Record{
		Account: account, AccessToken: "at-secret-" + account, RefreshToken: "rt-secret-" + account,
		Expiry: now.Add(time.Hour), Scope: "user-read-private", ObtainedAt: now, AuthorizedAt: now.Add(-time.Hour),
		RefreshedAt: now, Status: tokenstore.StatusOK,
	}
}

func TestRedisStoreOnMiniredis(t *testing.T) {
	_, c := newMiniredis(t)
	testRedisStore(t, c)
}

func testRedisStore(t *testing.T, client redis.UniversalClient) {
	for _, sc := range []struct {
		name string
		run  func(*testing.T, redis.UniversalClient)
	}{
		{"GetPutCompareAndSet", redisStoreGetPutCompareAndSet},
		{"ConcurrentCompareAndSetHasOneWinner", redisStoreConcurrentCompareAndSetHasOneWinner},
		{"DeleteKeepsVersionsCounting", redisStoreDeleteKeepsVersionsCounting},
		{"ListPages", redisStoreListPages},
		{"CorruptRecordIsReportedNotOverwritten", redisStoreCorruptRecordIsReportedNotOverwritten},
		{"WrongEncryptionKeyNamesTheAccount", redisStoreWrongEncryptionKeyNamesTheAccount},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, client) })
	}
}

func redisStoreGetPutCompareAndSet(t *testing.T, client redis.UniversalClient) {
	ctx := context.Background()
	codec := mustCodec(t, aesKey(1))
	prefix := testPrefix()
	st := tokenstore.NewRedisStore(client, prefix, codec)
	if _, err := st.Get(ctx, "u1"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("Get of a missing record: %v, want ErrNotFound", err)
	}
	rec := sampleRecord("u1")
	got, err := st.Put(ctx, rec, 0)
	if err != nil || got.Version != 1 {
		t.Fatalf("Put: version %d, %v", got.Version, err)
	}
	back, err := st.Get(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if back.Version != 1 || back.AccessToken != rec.AccessToken || back.RefreshToken != rec.RefreshToken ||
		!back.Expiry.Equal(rec.Expiry) || !back.AuthorizedAt.Equal(rec.AuthorizedAt) || back.Scope != rec.Scope {
		t.Fatalf("record did not round-trip: %+v", back)
	}
	if _, err := st.Put(ctx, rec, 0); !errors.Is(err, tokenstore.ErrVersionConflict) {
		t.Fatalf("Put expecting no record: %v, want ErrVersionConflict", err)
	}
	rec.AccessToken = "at-2"
	if got, err := st.Put(ctx, rec, 1); err != nil || got.Version != 2 {
		t.Fatalf("Put expecting 1: %d %v", got.Version, err)
	}
	if _, err := st.Put(ctx, rec, 1); !errors.Is(err, tokenstore.ErrVersionConflict) || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("stale Put: %v, want a conflict naming version 2", err)
	}
	if back, _ := st.Get(ctx, "u1"); back.AccessToken != "at-2" {
		t.Fatal("a rejected write changed the record")
	}
	// Record and lock share a Cluster slot through the hash tag.
	if n, err := client.Exists(ctx, prefix+"{u1}:token").Result(); err != nil || n != 1 {
		t.Fatalf("record key %s{u1}:token: %d %v", prefix, n, err)
	}
	raw, err := client.HGet(ctx, prefix+"{u1}:token", "r").Result()
	if err != nil || strings.Contains(raw, "at-2") || strings.Contains(raw, "rt-secret") {
		t.Fatalf("secrets stored in clear text (or %v)", err)
	}
	if _, err := st.Get(ctx, "bad}id"); !errors.Is(err, tokenstore.ErrBadAccount) {
		t.Fatalf("Get of an invalid id: %v", err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func redisStoreConcurrentCompareAndSetHasOneWinner(t *testing.T, client redis.UniversalClient) {
	ctx := context.Background()
	codec := mustCodec(t, aesKey(1))
	st := tokenstore.NewRedisStore(client, testPrefix(), codec)
	if _, err := st.Put(ctx, sampleRecord("race"), 0); err != nil {
		t.Fatal(err)
	}
	var wins, conflicts atomic.Int64
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := sampleRecord("race")
			rec.AccessToken = fmt.Sprintf("at-%d", i)
			_, err := st.Put(ctx, rec, 1)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, tokenstore.ErrVersionConflict):
				conflicts.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 19 {
		t.Fatalf("wins %d conflicts %d, want 1 and 19", wins.Load(), conflicts.Load())
	}
}

func redisStoreDeleteKeepsVersionsCounting(t *testing.T, client redis.UniversalClient) {
	ctx := context.Background()
	codec := mustCodec(t, aesKey(1))
	st := tokenstore.NewRedisStore(client, testPrefix(), codec)
	if err := st.Delete(ctx, "gone"); err != nil {
		t.Fatalf("deleting a missing record: %v", err)
	}
	rec := sampleRecord("gone")
	if _, err := st.Put(ctx, rec, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, rec, 1); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "gone"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := st.Delete(ctx, "gone"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	// A refresh that read version 2 before the delete must not overwrite the
	// account created again afterwards.
	if _, err := st.Put(ctx, rec, 2); !errors.Is(err, tokenstore.ErrVersionConflict) {
		t.Fatalf("Put on a deleted record: %v, want a conflict", err)
	}
	again, err := st.Put(ctx, rec, 0)
	if err != nil || again.Version != 3 {
		t.Fatalf("re-created record: version %d %v, want 3", again.Version, err)
	}
	if back, err := st.Get(ctx, "gone"); err != nil || back.Version != 3 {
		t.Fatalf("Get: %d %v", back.Version, err)
	}
	if _, err := st.Put(ctx, rec, 2); !errors.Is(err, tokenstore.ErrVersionConflict) {
		t.Fatalf("stale Put after re-creation: %v, want a conflict", err)
	}
}

func redisStoreListPages(t *testing.T, client redis.UniversalClient) {
	ctx := context.Background()
	codec := mustCodec(t, aesKey(1))
	prefix := testPrefix()
	st := tokenstore.NewRedisStore(client, prefix, codec)
	var want []string
	for i := range 10 {
		id := fmt.Sprintf("acct-%02d", i)
		if _, err := st.Put(ctx, sampleRecord(id), 0); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	if err := st.Delete(ctx, "acct-03"); err != nil {
		t.Fatal(err)
	}
	want = append(want[:3], want[4:]...)
	// An index entry whose record is gone (e.g. a delete that failed half way).
	if err := client.ZAdd(ctx, prefix+"accounts", redis.Z{Member: "acct-05x"}).Err(); err != nil {
		t.Fatal(err)
	}
	// A record that cannot be decoded is listed without a status.
	if err := client.HSet(ctx, prefix+"{acct-07x}:token", "v", "1", "r", "{garbage").Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.ZAdd(ctx, prefix+"accounts", redis.Z{Member: "acct-07x"}).Err(); err != nil {
		t.Fatal(err)
	}
	// So is a key of another type.
	if err := client.Set(ctx, prefix+"{acct-08x}:token", "legacy", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.ZAdd(ctx, prefix+"accounts", redis.Z{Member: "acct-08x"}).Err(); err != nil {
		t.Fatal(err)
	}
	want = append(want[:7], append([]string{"acct-07x"}, want[7:]...)...)
	want = append(want[:9], append([]string{"acct-08x"}, want[9:]...)...)

	for _, limit := range []int{1, 3, 4, 20} {
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			recs, next, err := st.List(ctx, cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) > limit || pages > 20 {
				t.Fatalf("limit %d: page of %d (page %d)", limit, len(recs), pages)
			}
			for _, r := range recs {
				got = append(got, r.Account)
				switch {
				case strings.HasSuffix(r.Account, "x"):
					if r.Status != "" {
						t.Fatal("undecodable record listed with a status")
					}
				case r.Status != tokenstore.StatusOK || r.Version != 1:
					t.Fatalf("listed record %v version %d", r, r.Version)
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("limit %d: listed %v, want %v", limit, got, want)
		}
	}
	all, next, err := st.List(ctx, "", 0)
	if err != nil || next != "" || len(all) != len(want) {
		t.Fatalf("List without limit: %d records, next %q, %v", len(all), next, err)
	}
	if recs, next, err := st.List(ctx, "zzz", 5); err != nil || len(recs) != 0 || next != "" {
		t.Fatalf("List past the end: %v %q %v", recs, next, err)
	}
}

func redisStoreCorruptRecordIsReportedNotOverwritten(t *testing.T, client redis.UniversalClient) {
	ctx := context.Background()
	codec := mustCodec(t, aesKey(1))
	prefix := testPrefix()
	st := tokenstore.NewRedisStore(client, prefix, codec)
	cases := []struct {
		name, account string
		write         func(key string) error
		mention       string
	}{
		{"garbage", "broken", func(k string) error { return client.HSet(ctx, k, "v", "1", "r", "{garbage").Err() }, "invalid JSON"},
		{"older format", "old", func(k string) error {
			return client.HSet(ctx, k, "v", "1", "r", `{"format":0,"account":"old","version":1,"status":"ok"}`).Err()
		}, "format 0"},
		{"other account", "mixed", func(k string) error {
			return client.HSet(ctx, k, "v", "1", "r", `{"format":1,"account":"other","version":1,"status":"ok"}`).Err()
		}, `"other"`},
		{"version field disagrees", "skew", func(k string) error {
			rec := sampleRecord("skew")
			rec.Version = 1
			b, err := codec.Encode(rec)
			if err != nil {
				return err
			}
			return client.HSet(ctx, k, "v", "5", "r", b).Err()
		}, "version"},
		{"plaintext with a key", "plain", func(k string) error {
			b, err := (&tokenstore.Codec{}).Encode(sampleRecord("plain"))
			if err != nil {
				return err
			}
			return client.HSet(ctx, k, "v", "0", "r", b).Err()
		}, "plaintext record refused"},
		{"no version field", "nov", func(k string) error {
			return client.HSet(ctx, k, "r", `{"format":1,"account":"nov","version":1,"status":"ok"}`).Err()
		}, "version"},
		{"not a hash", "str", func(k string) error { return client.Set(ctx, k, "legacy", 0).Err() }, "not a hash"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := prefix + "{" + tc.account + "}:token"
			if err := tc.write(k); err != nil {
				t.Fatal(err)
			}
			before := dumpKey(t, client, k)
			_, err := st.Get(ctx, tc.account)
			if !errors.Is(err, tokenstore.ErrCorrupt) || !strings.Contains(err.Error(), `"`+tc.account+`"`) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("Get: %v, want ErrCorrupt naming %q and mentioning %q", err, tc.account, tc.mention)
			}
			for _, expect := range []int64{0, 1, 5} {
				if _, err := st.Put(ctx, sampleRecord(tc.account), expect); !errors.Is(err, tokenstore.ErrCorrupt) {
					t.Fatalf("Put expecting %d: %v, want ErrCorrupt", expect, err)
				}
			}
			if recs, _, err := st.List(ctx, "", 0); err != nil || len(recs) != 0 {
				t.Fatalf("List: %v %v (the index knows none of these)", recs, err)
			}
			if after := dumpKey(t, client, k); after != before {
				t.Fatalf("corrupt record changed: %q -> %q", before, after)
			}
		})
	}
}

func redisStoreWrongEncryptionKeyNamesTheAccount(t *testing.T, client redis.UniversalClient) {
	ctx := context.Background()
	codec := mustCodec(t, aesKey(1))
	prefix := testPrefix()
	if _, err := tokenstore.NewRedisStore(client, prefix, codec).Put(ctx, sampleRecord("sealed"), 0); err != nil {
		t.Fatal(err)
	}
	_, err := tokenstore.NewRedisStore(client, prefix, mustCodec(t, aesKey(2))).Get(ctx, "sealed")
	if !errors.Is(err, tokenstore.ErrCorrupt) || !strings.Contains(err.Error(), `"sealed"`) || !strings.Contains(err.Error(), "not among the configured keys") {
		t.Fatalf("Get with another key: %v", err)
	}
	_, err = tokenstore.NewRedisStore(client, prefix, nil).Get(ctx, "sealed")
	if !errors.Is(err, tokenstore.ErrCorrupt) || !strings.Contains(err.Error(), "no encryption key is configured") {
		t.Fatalf("Get without a key: %v", err)
	}
	// Key rotation: the old key still opens, the new one seals.
	rotated := tokenstore.NewRedisStore(client, prefix, mustCodec(t, aesKey(2), aesKey(1)))
	rec, err := rotated.Get(ctx, "sealed")
	if err != nil || rec.RefreshToken != "rt-secret-sealed" {
		t.Fatalf("Get with the old key second: %v", err)
	}
	if _, err := rotated.Put(ctx, rec, rec.Version); err != nil {
		t.Fatal(err)
	}
	if _, err := tokenstore.NewRedisStore(client, prefix, mustCodec(t, aesKey(2))).Get(ctx, "sealed"); err != nil {
		t.Fatalf("re-sealed record: %v", err)
	}
}

// dumpKey renders a key's type and content for before/after comparisons.
func dumpKey(t *testing.T, client redis.UniversalClient, k string) string {
	t.Helper()
	ctx := context.Background()
	typ, err := client.Type(ctx, k).Result()
	if err != nil {
		t.Fatal(err)
	}
	switch typ {
	case "hash":
		m, err := client.HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("hash v=%q r=%q", m["v"], m["r"])
	case "string":
		v, _ := client.Get(ctx, k).Result()
		return "string " + v
	}
	return typ
}

func TestRedisLockerOnMiniredis(t *testing.T) {
	m, c := newMiniredis(t)
	testRedisLocker(t, c, m.FastForward)
}

// lockTestTTL is long enough that a busy machine does not delay an extension (every
// TTL/3) past the TTL, and short enough to let it run out in real time.
const lockTestTTL = 600 * time.Millisecond

// testRedisLocker runs the locker suite, one function per scenario; advance lets the
// server's TTLs run down (FastForward on miniredis, a sleep on a real server).
func testRedisLocker(t *testing.T, client redis.UniversalClient, advance func(time.Duration)) {
	for _, sc := range []struct {
		name string
		run  func(*testing.T, redis.UniversalClient, func(time.Duration))
	}{
		{"ObtainTimeoutRelease", redisLockerObtainTimeoutRelease},
		{"ExtensionKeepsTheLockPastItsTTL", redisLockerExtensionKeepsTheLockPastItsTTL},
		{"PausedHolderLosesItsLease", redisLockerPausedHolderLosesItsLease},
		{"TakenOverLeaseIsLost", redisLockerTakenOverLeaseIsLost},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, client, advance) })
	}
}

func redisLockerObtainTimeoutRelease(t *testing.T, client redis.UniversalClient, advance func(time.Duration)) {
	ctx := context.Background()
	quick := tokenstore.RedisLockerOptions{TTL: lockTestTTL, Wait: 150 * time.Millisecond}
	prefix := testPrefix()
	l1 := tokenstore.NewRedisLocker(client, prefix, tokenstore.RedisLockerOptions{TTL: lockTestTTL})
	l2 := tokenstore.NewRedisLocker(client, prefix, quick)
	lease, err := l1.Lock(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := client.Exists(ctx, prefix+"{acct}:lock").Result(); n != 1 {
		t.Fatalf("lock key %s{acct}:lock missing", prefix)
	}
	start := time.Now()
	if _, err := l2.Lock(ctx, "acct"); !errors.Is(err, tokenstore.ErrLockTimeout) {
		t.Fatalf("second Lock: %v, want ErrLockTimeout", err)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond || waited > 2*time.Second {
		t.Fatalf("waited %s for a 150ms wait", waited)
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	_, err = l1.Lock(short, "acct")
	cancel()
	if !errors.Is(err, tokenstore.ErrLockTimeout) {
		t.Fatalf("Lock with a short ctx deadline: %v, want ErrLockTimeout", err)
	}
	if other, err := l2.Lock(ctx, "other"); err != nil {
		t.Fatalf("another account's lock: %v", err)
	} else {
		_ = other.Release(ctx)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	lease2, err := l2.Lock(ctx, "acct")
	if err != nil {
		t.Fatalf("Lock after Release: %v", err)
	}
	if err := lease2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l1.Lock(canceled, "acct"); err == nil {
		t.Fatal("Lock with a canceled ctx succeeded")
	}
}

func redisLockerExtensionKeepsTheLockPastItsTTL(t *testing.T, client redis.UniversalClient, advance func(time.Duration)) {
	ctx := context.Background()
	quick := tokenstore.RedisLockerOptions{TTL: lockTestTTL, Wait: 150 * time.Millisecond}
	prefix := testPrefix()
	l1 := tokenstore.NewRedisLocker(client, prefix, tokenstore.RedisLockerOptions{TTL: lockTestTTL})
	l2 := tokenstore.NewRedisLocker(client, prefix, quick)
	lease, err := l1.Lock(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	for range 6 { // 6 × TTL/2: three TTLs
		advance(lockTestTTL / 2)
		waitUntil(t, "an extension", func() bool {
			d, err := client.PTTL(ctx, prefix+"{acct}:lock").Result()
			return err == nil && d > lockTestTTL/2
		})
	}
	if _, err := l2.Lock(ctx, "acct"); !errors.Is(err, tokenstore.ErrLockTimeout) {
		t.Fatalf("lock not kept past its TTL: %v", err)
	}
	select {
	case <-lease.Lost():
		t.Fatal("a kept lease reported lost")
	default:
	}
}

func redisLockerPausedHolderLosesItsLease(t *testing.T, client redis.UniversalClient, advance func(time.Duration)) {
	ctx := context.Background()
	quick := tokenstore.RedisLockerOptions{TTL: lockTestTTL, Wait: 150 * time.Millisecond}
	prefix := testPrefix()
	var paused atomic.Bool
	l1 := tokenstore.NewRedisLocker(client, prefix, tokenstore.RedisLockerOptions{TTL: lockTestTTL}.
		WithPauseExtension(func(string) bool { return paused.Load() }))
	l2 := tokenstore.NewRedisLocker(client, prefix, quick)
	lease, err := l1.Lock(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	paused.Store(true)
	advance(lockTestTTL + 50*time.Millisecond)
	lease2, err := l2.Lock(ctx, "acct")
	if err != nil {
		t.Fatalf("expired lock not obtained by a peer: %v", err)
	}
	waitUntil(t, "Lost() of the paused holder", func() bool {
		select {
		case <-lease.Lost():
			return true
		default:
			return false
		}
	})
	if err := lease.Release(ctx); err != nil {
		t.Fatalf("releasing a lost lease: %v", err)
	}
	// The stale holder's release left the new holder's lock alone.
	if _, err := l2.Lock(ctx, "acct"); !errors.Is(err, tokenstore.ErrLockTimeout) {
		t.Fatalf("the new holder's lock was released by the old holder: %v", err)
	}
	_ = lease2.Release(ctx)
}

func redisLockerTakenOverLeaseIsLost(t *testing.T, client redis.UniversalClient, advance func(time.Duration)) {
	ctx := context.Background()
	quick := tokenstore.RedisLockerOptions{TTL: lockTestTTL, Wait: 150 * time.Millisecond}
	prefix := testPrefix()
	l1 := tokenstore.NewRedisLocker(client, prefix, tokenstore.RedisLockerOptions{TTL: lockTestTTL})
	l2 := tokenstore.NewRedisLocker(client, prefix, quick)
	lease, err := l1.Lock(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Del(ctx, prefix+"{acct}:lock").Err(); err != nil {
		t.Fatal(err)
	}
	lease2, err := l2.Lock(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	defer lease2.Release(ctx)
	select {
	case <-lease.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the extension did not notice the lock was taken")
	}
	_ = lease.Release(ctx)
}

func TestRedisNotifierOnMiniredis(t *testing.T) {
	_, c := newMiniredis(t)
	testRedisNotifier(t, c)
}

// subscribe starts n.Subscribe in the background and waits until it receives: it
// publishes a probe from another notifier on the channel until the probe arrives
// (pub/sub has no other "ready").
func subscribe(t *testing.T, n *tokenstore.RedisNotifier, client redis.UniversalClient, prefix string) (<-chan string, func() error) {
	t.Helper()
	prober := tokenstore.NewRedisNotifier(client, prefix)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 100)
	done := make(chan error, 1)
	go func() { done <- n.Subscribe(ctx, nil, func(a string) { got <- a }) }()
	probe := fmt.Sprintf("probe-%d", prefixSeq.Add(1))
	deadline := time.Now().Add(10 * time.Second)
	for ready := false; !ready; {
		if time.Now().After(deadline) {
			t.Fatal("subscription not ready within 10s")
		}
		if err := prober.Publish(context.Background(), probe); err != nil {
			t.Fatal(err)
		}
		select {
		case a := <-got:
			ready = a == probe
		case err := <-done:
			t.Fatalf("Subscribe ended: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	for len(got) > 0 { // later probes
		<-got
	}
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			return errors.New("Subscribe did not return after its ctx ended")
		}
	})
	t.Cleanup(func() { _ = stop() })
	return got, stop
}

func testRedisNotifier(t *testing.T, client redis.UniversalClient) {
	prefix := testPrefix()
	pub := tokenstore.NewRedisNotifier(client, prefix)
	got1, stop1 := subscribe(t, tokenstore.NewRedisNotifier(client, prefix), client, prefix)
	own := tokenstore.NewRedisNotifier(client, prefix)
	got2, _ := subscribe(t, own, client, prefix)
	ctx := context.Background()
	for _, a := range []string{"acct-1", "bad}account", "acct-2"} {
		if err := pub.Publish(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// next skips the probes of the subscriptions' start.
	next := func(got <-chan string) string {
		for {
			select {
			case a := <-got:
				if !strings.HasPrefix(a, "probe-") {
					return a
				}
			case <-time.After(5 * time.Second):
				return "(nothing within 5s)"
			}
		}
	}
	for _, got := range []<-chan string{got1, got2} {
		// The invalid id is dropped. Order is not guaranteed: in a Cluster,
		// messages published through different nodes may overtake each other.
		if got := []string{next(got), next(got)}; !slices.Contains(got, "acct-1") || !slices.Contains(got, "acct-2") {
			t.Fatalf("received %q, want acct-1 and acct-2", got)
		}
	}
	if err := stop1(); err != nil {
		t.Fatalf("Subscribe after its ctx ended: %v", err)
	}
	// Another prefix is another channel.
	if err := tokenstore.NewRedisNotifier(client, testPrefix()).Publish(ctx, "acct-3"); err != nil {
		t.Fatal(err)
	}
	// A notifier's own messages do not come back to it; a bare account id (no
	// origin) is a peer's.
	if err := own.Publish(ctx, "acct-own"); err != nil {
		t.Fatal(err)
	}
	if err := client.Publish(ctx, prefix+"invalidate", "acct-bare").Err(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, "acct-4"); err != nil {
		t.Fatal(err)
	}
	if got := []string{next(got2), next(got2)}; !slices.Contains(got, "acct-bare") || !slices.Contains(got, "acct-4") {
		t.Fatalf("received %q, want acct-bare and acct-4 (nothing of its own, nothing from another prefix)", got)
	}
}

// ---- The Source on the Redis store: replicas sharing one Redis.

// countingLocker counts the Lock calls that reached the distributed lock.
type countingLocker struct {
	tokenstore.Locker
	entered atomic.Int64
}

func (l *countingLocker) Lock(ctx context.Context, account string) (tokenstore.Lease, error) {
	l.entered.Add(1)
	return l.Locker.Lock(ctx, account)
}

// replica is one proxy instance: its own Source, metrics and Redis objects.
type replica struct {
	src      *tokenstore.Source
	m        *metrics.Metrics
	store    *tokenstore.RedisStore
	locker   *countingLocker
	notifier *tokenstore.RedisNotifier
}

type replicaOptions struct {
	lock     tokenstore.RedisLockerOptions
	notify   bool
	deferRun bool // the test calls src.Run itself
	config   func(*tokenstore.Config)
}

func newReplica(t testing.TB, client redis.UniversalClient, prefix string, sp tokenstore.Refresher, now func() time.Time, o replicaOptions) *replica {
	t.Helper()
	r := &replica{
		m:      metrics.New(prometheus.NewRegistry()),
		store:  tokenstore.NewRedisStore(client, prefix, nil),
		locker: &countingLocker{Locker: tokenstore.NewRedisLocker(client, prefix, o.lock)},
	}
	cfg := tokenstore.Config{
		Store: r.store, Locker: r.locker, Refresher: sp, Metrics: r.m, Now: now,
		AppAccount: "app", RefreshAhead: 5 * time.Minute, ScanInterval: -1,
	}
	if o.notify {
		r.notifier = tokenstore.NewRedisNotifier(client, prefix)
		cfg.Notifier = r.notifier
	}
	if o.config != nil {
		o.config(&cfg)
	}
	if os.Getenv("TOKENSTORE_DEBUG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("replica", fmt.Sprintf("%p", r))
	}
	r.src = tokenstore.NewSource(cfg)
	if !o.deferRun {
		r.src.Run()
	}
	t.Cleanup(r.src.Close)
	return r
}

func (r *replica) race(outcome string) float64 {
	return testutil.ToFloat64(r.m.RefreshRaces.WithLabelValues(outcome))
}

func (r *replica) refreshes(trigger, result string) float64 {
	return testutil.ToFloat64(r.m.TokenRefreshes.WithLabelValues(trigger, result))
}

func (r *replica) storeErrors(op string) float64 {
	return testutil.ToFloat64(r.m.StoreErrors.WithLabelValues(op))
}

func TestRedisTwoReplicasRefreshOnce(t *testing.T) {
	_, c := newMiniredis(t)
	testTwoReplicasRefreshOnce(t, c)
}

// testTwoReplicasRefreshOnce: callers on two replicas all hit an expired token at
// once; exactly one token-endpoint call serves them all.
func testTwoReplicasRefreshOnce(t *testing.T, client redis.UniversalClient) {
	ctx := context.Background()
	prefix := testPrefix()
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	a := newReplica(t, client, prefix, sp, clk.Now, replicaOptions{})
	b := newReplica(t, client, prefix, sp, clk.Now, replicaOptions{})
	if ok, err := a.src.Seed(ctx, "default", sp.issue()); !ok || err != nil {
		t.Fatalf("seed: %v %v", ok, err)
	}
	ca, err := a.src.Token(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.src.Token(ctx, "default")
	if err != nil || cb.AccessToken != ca.AccessToken || sp.calls.Load() != 1 {
		t.Fatalf("replica B did not take A's stored token: %v, calls %d", err, sp.calls.Load())
	}

	clk.Add(2 * time.Hour) // expired everywhere
	release := make(chan struct{})
	sp.gate = func(int64) { <-release }
	locksBefore := a.locker.entered.Load() + b.locker.entered.Load()
	const perReplica = 50
	var wg sync.WaitGroup
	tokens := make(chan string, 2*perReplica)
	for _, r := range []*replica{a, b} {
		for range perReplica {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := r.src.Token(ctx, "default")
				if err != nil {
					t.Error(err)
					return
				}
				tokens <- c.AccessToken
			}()
		}
	}
	// Both replicas' flights reach the distributed lock (one holds it and is in the
	// token call), and every caller joined its replica's flight.
	waitUntil(t, "both replicas at the lock and all callers coalesced", func() bool {
		return a.locker.entered.Load()+b.locker.entered.Load()-locksBefore == 2 && sp.calls.Load() == 2 &&
			a.race(metrics.RaceCoalesced) == perReplica-1 && b.race(metrics.RaceCoalesced) == perReplica-1
	})
	close(release)
	wg.Wait()
	close(tokens)
	want := ""
	for tok := range tokens {
		if want == "" {
			want = tok
		}
		if tok != want || tok == ca.AccessToken {
			t.Fatalf("callers got different or old tokens: %q vs %q", tok, want)
		}
	}
	if n := sp.calls.Load(); n != 2 {
		t.Fatalf("token calls = %d, want 2 (seed refresh + one refresh event)", n)
	}
	if got := a.race(metrics.RacePeerRefreshed) + b.race(metrics.RacePeerRefreshed); got != 1 {
		t.Fatalf("peer_refreshed = %v, want 1", got)
	}
	if sp.invalid.Load() != 0 {
		t.Fatal("invalid_grant answered")
	}
}

// peers is two replicas on one miniredis that tell each other of changes, and the
// account "default" seeded.
type peers struct {
	m      *miniredis.Miniredis
	prefix string
	clk    *clock
	sp     *fakeSpotify
	a, b   *replica
}

func newPeers(t *testing.T, bOpts replicaOptions) *peers {
	t.Helper()
	m, c := newMiniredis(t)
	prefix := testPrefix()
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	bOpts.notify = true
	p := &peers{m: m, prefix: prefix, clk: clk, sp: sp,
		a: newReplica(t, c, prefix, sp, clk.Now, replicaOptions{notify: true}),
		b: newReplica(t, c, prefix, sp, clk.Now, bOpts)}
	if _, err := p.a.src.Seed(context.Background(), "default", sp.issue()); err != nil {
		t.Fatal(err)
	}
	return p
}

// subscribed waits until both replicas follow the invalidation channel.
func (p *peers) subscribed(t *testing.T) {
	t.Helper()
	channel := p.prefix + "invalidate"
	waitUntil(t, "both replicas subscribed", func() bool { return p.m.PubSubNumSub(channel)[channel] == 2 })
}

// deliver stores a new token for "default" through from; wait then waits until to
// serves it.
func (p *peers) deliver(t *testing.T, from *replica) {
	t.Helper()
	err := from.src.Deliver(context.Background(), "default", tokenstore.Delivery{
		RefreshToken: p.sp.issue(), AccessToken: "delivered-at", Expiry: p.clk.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (p *peers) waitServed(t *testing.T, to *replica, what string) {
	t.Helper()
	waitUntil(t, what, func() bool {
		c, err := to.src.Token(context.Background(), "default")
		return err == nil && c.AccessToken == "delivered-at"
	})
}

func TestRedisDeliverOnOneReplicaIsSeenByAnother(t *testing.T) {
	p := newPeers(t, replicaOptions{})
	old, err := p.b.src.Token(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	p.subscribed(t)
	p.deliver(t, p.a)
	p.waitServed(t, p.b, "replica B to serve the delivered token")
	if old.AccessToken == "delivered-at" || p.sp.calls.Load() != 1 {
		t.Fatalf("token calls = %d, want 1", p.sp.calls.Load())
	}
}

// A replica whose own invalidation was published before its subscription was live
// (so it never came back) still takes the next change a peer announces.
func TestRedisOwnLostInvalidationHidesNoPeerChange(t *testing.T) {
	p := newPeers(t, replicaOptions{deferRun: true})
	// B refreshes (and publishes) before it subscribes: its own message is lost.
	if _, err := p.b.src.Token(context.Background(), "default"); err != nil {
		t.Fatal(err)
	}
	p.b.src.Run()
	p.subscribed(t)
	p.deliver(t, p.a)
	p.waitServed(t, p.b, "replica B to serve the delivered token")
}

// A change announced while a replica's subscription was down is not lost for good:
// once the replica's new subscription is confirmed, its cached tokens are re-read.
func TestRedisChangeMissedWhileDisconnectedIsReread(t *testing.T) {
	p := newPeers(t, replicaOptions{})
	if _, err := p.a.src.Token(context.Background(), "default"); err != nil {
		t.Fatal(err)
	}
	p.subscribed(t)
	p.m.Close() // every connection drops; the replicas subscribe again after a second
	if err := p.m.Restart(); err != nil {
		t.Fatal(err)
	}
	p.clk.Add(time.Second)
	p.deliver(t, p.b)
	p.waitServed(t, p.a, "replica A to serve the token delivered while it was not subscribed")
}

func TestRedisInvalidGrantRecoveredWhenPeerRotated(t *testing.T) {
	m, c := newMiniredis(t)
	ctx := context.Background()
	prefix := testPrefix()
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	lockOpts := tokenstore.RedisLockerOptions{TTL: time.Second, Wait: 5 * time.Second}
	var pauseB atomic.Bool
	bOpts := lockOpts.WithPauseExtension(func(string) bool { return pauseB.Load() })
	a := newReplica(t, c, prefix, sp, clk.Now, replicaOptions{lock: lockOpts})
	b := newReplica(t, c, prefix, sp, clk.Now, replicaOptions{lock: bOpts})
	rt1 := sp.issue()
	if _, err := a.src.Seed(ctx, "default", rt1); err != nil {
		t.Fatal(err)
	}
	bIn, relB := make(chan struct{}), make(chan struct{})
	aIn, relA := make(chan struct{}), make(chan struct{})
	sp.gate = func(n int64) {
		switch n {
		case 1: // B, the first holder
			close(bIn)
			<-relB
		case 2: // A, after B's lock expired
			close(aIn)
			<-relA
		}
	}
	type result struct {
		c   *tokenstore.Credential
		err error
	}
	resB, resA := make(chan result, 1), make(chan result, 1)
	pauseB.Store(true)
	go func() { c, err := b.src.Token(ctx, "default"); resB <- result{c, err} }()
	<-bIn
	m.FastForward(lockOpts.TTL + time.Millisecond) // B's lock expires while B waits for Spotify
	go func() { c, err := a.src.Token(ctx, "default"); resA <- result{c, err} }()
	<-aIn // A took the expired lock and refreshes with rt1 too
	close(relB)
	rb := <-resB // B's refresh rotated rt1 and was stored
	if rb.err != nil {
		t.Fatal(rb.err)
	}
	close(relA) // A's call with the revoked rt1 gets invalid_grant
	ra := <-resA
	if ra.err != nil || ra.c.AccessToken != rb.c.AccessToken {
		t.Fatalf("replica A: %v; token %v, want B's", ra.err, ra.c)
	}
	if got := a.race(metrics.RaceInvalidGrantRecovered); got != 1 {
		t.Fatalf("invalid_grant_recovered = %v, want 1", got)
	}
	rec, err := a.store.Get(ctx, "default")
	if err != nil || rec.Status != tokenstore.StatusOK || !sp.isLive(rec.RefreshToken) || rec.AccessToken != rb.c.AccessToken {
		t.Fatalf("stored record %v (%v): want B's live token", rec, err)
	}
}

// lockLoss is the setup of the lock-loss tests: replica A's refresh has its token,
// then pauses before its write with its lease extension paused, until its lock has
// expired; B is a second replica. release lets A write; resA is A's answer.
type lockLoss struct {
	m    *miniredis.Miniredis
	sp   *fakeSpotify
	a, b *replica
	relA chan struct{}
	resA chan *tokenstore.Credential
}

func newLockLoss(t *testing.T, notify, rotate bool) *lockLoss {
	t.Helper()
	m, c := newMiniredis(t)
	ctx := context.Background()
	prefix := testPrefix()
	clk := newClock()
	ll := &lockLoss{m: m, sp: newFakeSpotify(clk.Now, time.Hour), relA: make(chan struct{}), resA: make(chan *tokenstore.Credential, 1)}
	ll.sp.rotate = rotate
	var pauseA atomic.Bool
	aIn := make(chan struct{})
	var once sync.Once
	lock := tokenstore.RedisLockerOptions{TTL: time.Second, Wait: 5 * time.Second}
	ll.a = newReplica(t, c, prefix, ll.sp, clk.Now, replicaOptions{
		notify: notify,
		lock:   lock.WithPauseExtension(func(string) bool { return pauseA.Load() }),
		config: func(cfg *tokenstore.Config) {
			tokenstore.WithBeforeWrite(cfg, func(string) {
				once.Do(func() {
					close(aIn)
					<-ll.relA
				})
			})
		},
	})
	ll.b = newReplica(t, c, prefix, ll.sp, clk.Now, replicaOptions{notify: notify, lock: lock})
	if notify {
		channel := prefix + "invalidate"
		waitUntil(t, "both replicas subscribed", func() bool { return m.PubSubNumSub(channel)[channel] == 2 })
	}
	if _, err := ll.a.src.Seed(ctx, "default", ll.sp.issue()); err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := ll.a.src.Token(ctx, "default")
		if err != nil {
			t.Error(err)
		}
		ll.resA <- c
	}()
	<-aIn
	pauseA.Store(true)
	m.FastForward(time.Second + time.Millisecond) // A's lock expires
	return ll
}

// TestRedisLockLossStaleWriteRejected: holder A pauses after its refresh until its
// lock expired and B refreshed and wrote; A's late write must not overwrite B's.
func TestRedisLockLossStaleWriteRejected(t *testing.T) {
	ll := newLockLoss(t, false, false) // no rotation: B's refresh with the same refresh token succeeds
	ctx := context.Background()
	a, b, sp := ll.a, ll.b, ll.sp
	cb, err := b.src.Token(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	close(ll.relA)
	ca := <-ll.resA
	if ca == nil || ca.AccessToken != cb.AccessToken {
		t.Fatalf("replica A serves %v, want B's stored token %q", ca, cb.AccessToken)
	}
	if got := a.race(metrics.RaceStaleWriteRejected); got != 1 {
		t.Fatalf("stale_write_rejected = %v, want 1", got)
	}
	rec, err := a.store.Get(ctx, "default")
	if err != nil || rec.AccessToken != cb.AccessToken || rec.Version != 2 {
		t.Fatalf("stored %q v%d (%v), want B's token at version 2", rec.AccessToken, rec.Version, err)
	}
	if sp.calls.Load() != 2 {
		t.Fatalf("token calls = %d, want 2", sp.calls.Load())
	}
}

// TestRedisLockLossRotatedSuccessorIsKept is the failure story of a lock lost during a rotation: A's lock
// expires during a slow rotating refresh, B refreshes with the rotated-away token
// and gets invalid_grant. A's rotated token is the only live one and must end up
// stored, and B must recover.
func TestRedisLockLossRotatedSuccessorIsKept(t *testing.T) {
	ll := newLockLoss(t, true, true)
	ctx := context.Background()
	a, b, sp := ll.a, ll.b, ll.sp
	if _, err := b.src.Token(ctx, "default"); !errors.Is(err, tokenstore.ErrReauthRequired) {
		t.Fatalf("replica B: %v, want ErrReauthRequired (its token was rotated away)", err)
	}
	close(ll.relA)
	ca := <-ll.resA
	if ca == nil {
		t.Fatal("replica A got no token")
	}
	rec, err := a.store.Get(ctx, "default")
	if err != nil || rec.Status != tokenstore.StatusOK || !sp.isLive(rec.RefreshToken) || rec.AccessToken != ca.AccessToken {
		t.Fatalf("stored %v (%v): want A's rotated, live token", rec, err)
	}
	waitUntil(t, "replica B to recover through the invalidation", func() bool {
		c, err := b.src.Token(ctx, "default")
		return err == nil && c.AccessToken == ca.AccessToken
	})
}

func TestRedisCorruptRecordThroughTheSource(t *testing.T) {
	_, c := newMiniredis(t)
	ctx := context.Background()
	prefix := testPrefix()
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	r := newReplica(t, c, prefix, sp, clk.Now, replicaOptions{})
	k := prefix + "{default}:token"
	if err := c.HSet(ctx, k, "v", "3", "r", "{garbage").Err(); err != nil {
		t.Fatal(err)
	}
	before := dumpKey(t, c, k)
	if ok, err := r.src.Seed(ctx, "default", sp.issue()); ok || !errors.Is(err, tokenstore.ErrCorrupt) {
		t.Fatalf("Seed over a corrupt record: %v %v", ok, err)
	}
	if err := r.src.Deliver(ctx, "default", tokenstore.Delivery{RefreshToken: sp.issue()}); !errors.Is(err, tokenstore.ErrCorrupt) {
		t.Fatalf("Deliver over a corrupt record: %v", err)
	}
	var ue *tokenstore.UnavailableError
	if _, err := r.src.Token(ctx, "default"); !errors.As(err, &ue) || !errors.Is(err, tokenstore.ErrCorrupt) {
		t.Fatalf("Token: %v, want UnavailableError wrapping ErrCorrupt", err)
	}
	if after := dumpKey(t, c, k); after != before {
		t.Fatalf("corrupt record changed: %s -> %s", before, after)
	}
	if sp.calls.Load() != 0 {
		t.Fatal("a refresh ran on a corrupt record")
	}
}

// TestRedisWarmTokenMakesNoRedisCalls: the steady state costs no Redis command.
func TestRedisWarmTokenMakesNoRedisCalls(t *testing.T) {
	m, c := newMiniredis(t)
	ctx := context.Background()
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	r := newReplica(t, c, testPrefix(), sp, clk.Now, replicaOptions{config: func(cfg *tokenstore.Config) { cfg.RecheckAfter = time.Hour }})
	if _, err := r.src.Seed(ctx, "default", sp.issue()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.src.Token(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	before := m.CommandCount()
	for range 1000 {
		if _, err := r.src.Token(ctx, "default"); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.CommandCount() - before; n != 0 {
		t.Fatalf("%d Redis commands for 1000 warm Token calls, want 0", n)
	}
}

func BenchmarkTokenRedisWarm(b *testing.B) {
	benchmarkTokenRedisWarm(b, context.Background(), func(*tokenstore.Config) {})
}

// benchmarkTokenRedisWarm measures warm lookups made with ctx by a replica that
// config adjusts.
func benchmarkTokenRedisWarm(b *testing.B, ctx context.Context, config func(*tokenstore.Config)) {
	m := miniredis.RunT(b)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	b.Cleanup(func() { c.Close() })
	sp := newFakeSpotify(time.Now, 24*time.Hour)
	r := newReplica(b, c, testPrefix(), sp, time.Now, replicaOptions{config: func(cfg *tokenstore.Config) {
		cfg.RecheckAfter = time.Hour
		config(cfg)
	}})
	if _, err := r.src.Seed(ctx, "default", sp.issue()); err != nil {
		b.Fatal(err)
	}
	if _, err := r.src.Token(ctx, "default"); err != nil {
		b.Fatal(err)
	}
	before := m.CommandCount()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.src.Token(ctx, "default"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(m.CommandCount()-before)/float64(b.N), "redis-cmds/op")
}

func TestNewRedisClient(t *testing.T) {
	t.Run("URL", func(t *testing.T) {
		c, err := tokenstore.NewRedisClient(tokenstore.RedisOptions{URL: "redis://alice:s3cret@10.0.0.7:6380/2"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		o := c.(*redis.Client).Options()
		if o.Addr != "10.0.0.7:6380" || o.Username != "alice" || o.Password != "s3cret" || o.DB != 2 || o.TLSConfig != nil {
			t.Fatalf("options %+v", o)
		}
		if o.DialTimeout != 2*time.Second || o.ReadTimeout != time.Second || o.WriteTimeout != time.Second || !o.ContextTimeoutEnabled {
			t.Fatalf("timeouts: dial %s read %s write %s ctx %v", o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.ContextTimeoutEnabled)
		}
	})
	t.Run("TLSAndOverrides", func(t *testing.T) {
		c, err := tokenstore.NewRedisClient(tokenstore.RedisOptions{URL: "rediss://alice:old@redis.example:6379?read_timeout=3s", Username: "bob", Password: "new"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		o := c.(*redis.Client).Options()
		if o.TLSConfig == nil || o.TLSConfig.ServerName != "redis.example" || o.Username != "bob" || o.Password != "new" || o.ReadTimeout != 3*time.Second {
			t.Fatalf("options %+v", o)
		}
	})
	t.Run("Cluster", func(t *testing.T) {
		c, err := tokenstore.NewRedisClient(tokenstore.RedisOptions{Addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}, Password: "pw"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cc, ok := c.(*redis.ClusterClient)
		if !ok || len(cc.Options().Addrs) != 2 || cc.Options().Password != "pw" || !cc.Options().ContextTimeoutEnabled {
			t.Fatalf("got %T", c)
		}
	})
	t.Run("SentinelAndSingle", func(t *testing.T) {
		for _, o := range []tokenstore.RedisOptions{
			{Addrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"}, MasterName: "mymaster"},
			{Addrs: []string{"10.0.0.1:6379"}},
		} {
			c, err := tokenstore.NewRedisClient(o)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := c.(*redis.Client); !ok {
				t.Fatalf("%+v: got %T", o, c)
			}
			c.Close()
		}
	})
	t.Run("UnixSocket", func(t *testing.T) {
		c, err := tokenstore.NewRedisClient(tokenstore.RedisOptions{URL: "unix:///run/redis.sock?db=3"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		o := c.(*redis.Client).Options()
		if o.Addr != "/run/redis.sock" || o.DB != 3 || o.Dialer == nil {
			t.Fatalf("options %+v", o)
		}
	})
	// The settings' names are config's (config.TestRedisSettingsValidatedHere): errors
	// here name the option's field and never quote a password.
	t.Run("Errors", func(t *testing.T) {
		cases := []struct {
			name  string
			o     tokenstore.RedisOptions
			field string
		}{
			{"scheme", tokenstore.RedisOptions{URL: "http://u:hunter2@h:1"}, "URL"},
			{"port", tokenstore.RedisOptions{URL: "redis://u:hunter2@h:notaport"}, "URL"},
			{"db", tokenstore.RedisOptions{URL: "redis://u:hunter2@h:1/x"}, "URL"},
			{"both", tokenstore.RedisOptions{URL: "redis://h:1", Addrs: []string{"h:1"}}, "Addrs"},
			{"addr", tokenstore.RedisOptions{Addrs: []string{"no-port"}}, "Addrs"},
			{"master without addrs", tokenstore.RedisOptions{MasterName: "m"}, "MasterName"},
			{"nothing", tokenstore.RedisOptions{}, "URL"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := tokenstore.NewRedisClient(tc.o)
				var oe *tokenstore.RedisOptionError
				if !errors.As(err, &oe) || oe.Field != tc.field || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "REDIS_") {
					t.Fatalf("err = %v, want a RedisOptionError for %s without the password or a setting's name", err, tc.field)
				}
				if tc.o.Validate() == nil {
					t.Fatal("Validate accepts what NewRedisClient refuses")
				}
			})
		}
	})
}

// A 401 on replica b while replica a refreshes ahead: b waits for a's lock and finds
// a's new token, but a got it before b's 401 arrived (it may have died in the same
// revocation), so b refreshes instead of taking it.
func TestRedisInvalidateDoesNotTakeAPeersTokenFromBeforeThe401(t *testing.T) {
	_, client := newMiniredis(t)
	ctx := context.Background()
	prefix := testPrefix()
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	a := newReplica(t, client, prefix, sp, clk.Now, replicaOptions{})
	b := newReplica(t, client, prefix, sp, clk.Now, replicaOptions{})
	if ok, err := a.src.Seed(ctx, "default", sp.issue()); !ok || err != nil {
		t.Fatalf("seed: %v %v", ok, err)
	}
	c1, err := a.src.Token(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	inCall, release := make(chan struct{}), make(chan struct{})
	sp.gate = func(n int64) {
		if n == 2 { // a's refresh-ahead, holding the lock
			close(inCall)
			<-release
		}
	}
	clk.Add(time.Hour - time.Minute)
	if c, err := a.src.Token(ctx, "default"); err != nil || c.AccessToken != c1.AccessToken {
		t.Fatalf("a did not serve its valid token: %v", err)
	}
	<-inCall
	clk.Add(time.Second) // b's 401 to c1 arrives
	got := make(chan error, 1)
	var c2 *tokenstore.Credential
	go func() {
		var err error
		c2, err = b.src.Invalidate(ctx, "default", c1.AccessToken, clk.Now())
		got <- err
	}()
	waitUntil(t, "b waits for the lock", func() bool { return b.locker.entered.Load() == 1 })
	close(release)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	issued := sp.issuedTokens()
	if len(issued) != 3 || c2.AccessToken != issued[2] {
		t.Fatalf("b got %s; issued %v: want a refresh of its own after a's", c2.AccessToken, issued)
	}
	if sp.invalid.Load() != 0 {
		t.Fatal("invalid_grant: b refreshed with a rotated token")
	}
	if n := b.race(metrics.RacePeerRefreshed); n != 0 {
		t.Fatalf("b took the peer's token after the lock (peer_refreshed = %v)", n)
	}
}
