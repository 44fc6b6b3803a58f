package tokenstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// listCounting counts full listings; embedding keeps the store's SummaryStore methods.
type listCounting struct {
	*tokenstore.RedisStore
	lists atomic.Int64
}

func (l *listCounting) List(ctx context.Context, cursor string, limit int) ([]tokenstore.Record, string, error) {
	if cursor == "" {
		l.lists.Add(1)
	}
	return l.RedisStore.List(ctx, cursor, limit)
}

type gauges struct{ ok, reauth, age float64 }

func readGauges(m *metrics.Metrics) gauges {
	return gauges{
		testutil.ToFloat64(m.Accounts.WithLabelValues(string(tokenstore.StatusOK))),
		testutil.ToFloat64(m.Accounts.WithLabelValues(string(tokenstore.StatusReauthRequired))),
		testutil.ToFloat64(m.RefreshTokenAge),
	}
}

// With replicas sharing Redis, one replica per interval lists the accounts; the
// others show the summary it saved, so the gauges cost one scan per interval in all.
func TestRedisAccountGaugesScannedByOneReplica(t *testing.T) {
	mr, client := newMiniredis(t)
	ctx := context.Background()
	prefix := testPrefix()
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	counters := map[*replica]*listCounting{}
	newCounted := func() *replica {
		var lc *listCounting
		r := newReplica(t, client, prefix, sp, clk.Now, replicaOptions{config: func(c *tokenstore.Config) {
			lc = &listCounting{RedisStore: c.Store.(*tokenstore.RedisStore)}
			c.Store = lc
		}})
		counters[r] = lc
		return r
	}
	a, b := newCounted(), newCounted()

	store := tokenstore.NewRedisStore(client, prefix, nil)
	for _, acct := range []string{"alice", "bob", "carol"} {
		rec := sampleRecord(acct)
		rec.AuthorizedAt = clk.Now().Add(-48 * time.Hour)
		if acct == "carol" {
			rec.Status = tokenstore.StatusReauthRequired
			rec.AuthorizedAt = clk.Now().Add(-24 * time.Hour)
		}
		if _, err := store.Put(ctx, rec, 0); err != nil {
			t.Fatal(err)
		}
	}
	want := gauges{2, 1, (48 * time.Hour).Seconds()}

	a.src.ScanAccounts(ctx)
	b.src.ScanAccounts(ctx)
	if got := counters[a].lists.Load() + counters[b].lists.Load(); got != 1 {
		t.Fatalf("listings after both replicas scanned = %d, want 1", got)
	}
	for name, r := range map[string]*replica{"a": a, "b": b} {
		if got := readGauges(r.m); got != want {
			t.Errorf("replica %s gauges = %+v, want %+v", name, got, want)
		}
	}

	// Next interval: the claim has ended, whoever asks first lists again and the
	// other shows the new figures.
	if err := store.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	mr.FastForward(time.Minute)
	b.src.ScanAccounts(ctx)
	a.src.ScanAccounts(ctx)
	if got := counters[a].lists.Load() + counters[b].lists.Load(); got != 2 {
		t.Fatalf("listings after the second interval = %d, want 2", got)
	}
	want = gauges{1, 1, (48 * time.Hour).Seconds()}
	for name, r := range map[string]*replica{"a": a, "b": b} {
		if got := readGauges(r.m); got != want {
			t.Errorf("replica %s gauges after a delete = %+v, want %+v", name, got, want)
		}
	}

	// A summary that does not decode is reported and the gauges keep their values.
	mr.Set(prefix+"summary", "not json")
	errs := a.storeErrors(metrics.OpList)
	a.src.ScanAccounts(ctx)
	if a.storeErrors(metrics.OpList) != errs+1 {
		t.Error("a corrupt summary was not counted as a store error")
	}
	if got := readGauges(a.m); got != want {
		t.Errorf("gauges after a corrupt summary = %+v, want %+v kept", got, want)
	}
}

// A store of one replica is listed on every scan.
func TestFileAccountGauges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, acct := range []string{"alice", "bob"} {
		rec := sampleRecord(acct)
		rec.AuthorizedAt = f.clock.Now().Add(-72 * time.Hour)
		if acct == "bob" {
			rec.Status = tokenstore.StatusReauthRequired
		}
		if _, err := f.store.Put(ctx, rec, 0); err != nil {
			t.Fatal(err)
		}
	}
	f.src.ScanAccounts(ctx)
	if got, want := readGauges(f.m), (gauges{1, 1, (72 * time.Hour).Seconds()}); got != want {
		t.Errorf("gauges = %+v, want %+v", got, want)
	}
	if err := f.store.Delete(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	f.src.ScanAccounts(ctx)
	if got, want := readGauges(f.m), (gauges{1, 0, (72 * time.Hour).Seconds()}); got != want {
		t.Errorf("gauges after a delete = %+v, want %+v", got, want)
	}
}

// The expiring gauge counts the ok user accounts whose refresh token's lifetime
// (authorized_at + RefreshTokenLifetime) ends within ExpiryWarning or has ended;
// with Redis, replicas that did not list show the count the lister saved.
func TestAccountGaugesCountExpiringRefreshTokens(t *testing.T) {
	const lifetime, warning = 4380 * time.Hour, 336 * time.Hour
	_, client := newMiniredis(t)
	ctx := context.Background()
	prefix := testPrefix()
	clk := newClock()
	sp := newFakeSpotify(clk.Now, time.Hour)
	withLifetime := replicaOptions{config: func(c *tokenstore.Config) {
		c.RefreshTokenLifetime, c.ExpiryWarning = lifetime, warning
	}}
	a := newReplica(t, client, prefix, sp, clk.Now, withLifetime)
	b := newReplica(t, client, prefix, sp, clk.Now, withLifetime)
	store := tokenstore.NewRedisStore(client, prefix, nil)
	now := clk.Now()
	for _, r := range []struct {
		account    string
		authorized time.Time
		status     tokenstore.Status
		app        bool
	}{
		{"ends-in-a-week", now.Add(-lifetime + 7*24*time.Hour), tokenstore.StatusOK, false},
		{"ended", now.Add(-lifetime - time.Hour), tokenstore.StatusOK, false},
		{"at-the-warning", now.Add(-lifetime + warning), tokenstore.StatusOK, false},
		{"young", now.Add(-30 * 24 * time.Hour), tokenstore.StatusOK, false},
		{"just-before-the-warning", now.Add(-lifetime + warning + time.Minute), tokenstore.StatusOK, false},
		{"reauth", now.Add(-lifetime), tokenstore.StatusReauthRequired, false},
		{"unknown", time.Time{}, tokenstore.StatusOK, false},
		{"app", now.Add(-lifetime), tokenstore.StatusOK, true},
	} {
		rec := sampleRecord(r.account)
		rec.AuthorizedAt, rec.Status, rec.ClientCredentials = r.authorized, r.status, r.app
		if _, err := store.Put(ctx, rec, 0); err != nil {
			t.Fatal(err)
		}
	}
	a.src.ScanAccounts(ctx)
	b.src.ScanAccounts(ctx)
	for name, r := range map[string]*replica{"a": a, "b": b} {
		if got := testutil.ToFloat64(r.m.AccountsExpiring); got != 3 {
			t.Errorf("replica %s: expiring = %v, want 3", name, got)
		}
	}

	// Without a lifetime nothing expires.
	f := newFixture(t)
	rec := sampleRecord("old")
	rec.AuthorizedAt = f.clock.Now().Add(-10 * lifetime)
	if _, err := f.store.Put(ctx, rec, 0); err != nil {
		t.Fatal(err)
	}
	f.src.ScanAccounts(ctx)
	if got := testutil.ToFloat64(f.m.AccountsExpiring); got != 0 {
		t.Errorf("expiring without a lifetime = %v, want 0", got)
	}
}
