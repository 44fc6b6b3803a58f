package tokenstore_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// With replicas sharing Redis, one validates in a pass; the other skips it (no
// listing, no refresh), and every stale account is refreshed once.
func TestRedisValidationOneReplicaPerPass(t *testing.T) {
	mr, client := newMiniredis(t)
	prefix := testPrefix()
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	counted := func() (*validating, *listCounting) {
		lc := &listCounting{RedisStore: tokenstore.NewRedisStore(client, prefix, nil)}
		return newValidating(t, clk, sp, lc, func(c *tokenstore.Config) {
			c.Locker = tokenstore.NewRedisLocker(client, prefix, tokenstore.RedisLockerOptions{})
		}), lc
	}
	a, al := counted()
	b, bl := counted()
	const n = 4
	for i := range n {
		a.put(t, string(rune('a'+i)), sp.issue(), validateEvery+time.Hour)
	}

	type outcome struct {
		tried int
		ran   bool
	}
	var wg sync.WaitGroup
	res := make([]outcome, 2)
	for i, r := range []*validating{a, b} {
		wg.Go(func() {
			tried, ran := r.src.ValidatePass(context.Background())
			res[i] = outcome{tried, ran}
		})
	}
	wg.Wait()
	if res[0].ran == res[1].ran {
		t.Fatalf("passes ran: a %v, b %v; want exactly one", res[0].ran, res[1].ran)
	}
	if got := al.lists.Load() + bl.lists.Load(); got != 1 {
		t.Fatalf("listings = %d, want 1", got)
	}
	if got := sp.calls.Load(); got != n || res[0].tried+res[1].tried != n {
		t.Fatalf("token calls = %d, accounts tried %d; want %d", got, res[0].tried+res[1].tried, n)
	}
	total := refreshes(a.m, metrics.TriggerValidate, metrics.ResultSuccess) + refreshes(b.m, metrics.TriggerValidate, metrics.ResultSuccess)
	if total != n {
		t.Fatalf("validate/success over both replicas = %v, want %d", total, n)
	}

	// The claim outlives the pass until the next interval: the other replica does
	// not start over at once; once it has ended, whoever asks takes it.
	loser := a
	if res[0].ran {
		loser = b
	}
	if _, ran := loser.src.ValidatePass(context.Background()); ran {
		t.Fatal("the other replica validated while the claim held")
	}
	mr.FastForward(validateEvery / 4)
	if _, ran := loser.src.ValidatePass(context.Background()); !ran {
		t.Fatal("the other replica could not take an expired claim")
	}
}

func TestRedisValidationClaimOnMiniredis(t *testing.T) {
	_, c := newMiniredis(t)
	testRedisValidationClaim(t, c)
}

// testRedisValidationClaim: one owner at a time; the owner's claim is extended, a
// refused claim changes nothing.
func testRedisValidationClaim(t *testing.T, c redis.UniversalClient) {
	ctx := context.Background()
	prefix := testPrefix()
	a, b := tokenstore.NewRedisStore(c, prefix, nil), tokenstore.NewRedisStore(c, prefix, nil)
	ttl := func() time.Duration { return c.PTTL(ctx, prefix+"validate:claim").Val() }
	for _, step := range []struct {
		st      *tokenstore.RedisStore
		owner   string
		claim   time.Duration
		want    bool
		ttlOver time.Duration // the claim's TTL afterwards is above this
	}{
		{a, "a", time.Hour, true, 59 * time.Minute},
		{b, "b", 3 * time.Hour, false, 59 * time.Minute},
		{a, "a", 2 * time.Hour, true, 119 * time.Minute}, // extended
		{b, "b", time.Hour, false, 119 * time.Minute},    // unchanged
	} {
		got, err := step.st.ClaimValidation(ctx, step.owner, step.claim)
		if err != nil || got != step.want {
			t.Fatalf("%s claims for %s: %v %v, want %v", step.owner, step.claim, got, err, step.want)
		}
		if d := ttl(); d <= step.ttlOver || d > 3*time.Hour {
			t.Fatalf("after %s's claim the TTL is %s, want over %s", step.owner, d, step.ttlOver)
		}
	}
}

// The file store's claim: one owner at a time among the Sources of a process; the
// owner renews it; it is free once its time is up.
func TestFileStoreValidationClaim(t *testing.T) {
	st, err := tokenstore.OpenFileStore(filepath.Join(t.TempDir(), "tokens.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for _, step := range []struct {
		owner string
		ttl   time.Duration
		want  bool
	}{
		{"a", time.Hour, true},
		{"b", time.Hour, false},
		{"a", time.Hour, true}, // renewed
		{"b", time.Hour, false},
		{"a", 0, true}, // renewed for no time: ends now
		{"b", time.Hour, true},
		{"a", time.Hour, false},
	} {
		if got, err := st.ClaimValidation(ctx, step.owner, step.ttl); err != nil || got != step.want {
			t.Fatalf("%s claims for %s: %v %v, want %v", step.owner, step.ttl, got, err, step.want)
		}
	}
}

// A Source that closes (a replica shutting down) gives the claim up: another one
// validates at its next pass instead of after the claim runs out.
func TestValidationClaimReleasedAtClose(t *testing.T) {
	_, client := newMiniredis(t)
	fileStore, err := tokenstore.OpenFileStore(filepath.Join(t.TempDir(), "tokens.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fileStore.Close() })
	for name, store := range map[string]tokenstore.Store{
		"redis": tokenstore.NewRedisStore(client, testPrefix(), nil),
		"file":  fileStore,
	} {
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			sp := newFakeSpotify(clk.Now, time.Hour)
			a := newValidating(t, clk, sp, store)
			b := newValidating(t, clk, sp, store)
			if _, ran := a.src.ValidatePass(context.Background()); !ran {
				t.Fatal("the first pass did not run")
			}
			if _, ran := b.src.ValidatePass(context.Background()); ran {
				t.Fatal("b validated while a held the claim")
			}
			a.src.Close()
			if _, ran := b.src.ValidatePass(context.Background()); !ran {
				t.Fatal("b could not validate after a closed: the claim was kept")
			}
		})
	}
}
