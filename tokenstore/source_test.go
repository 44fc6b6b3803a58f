package tokenstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

type fixture struct {
	clock *clock
	sp    *fakeSpotify
	store *tokenstore.FileStore
	path  string
	src   *tokenstore.Source
	m     *metrics.Metrics
}

func newFixture(t *testing.T, mutate ...func(*tokenstore.Config)) *fixture {
	t.Helper()
	f := &fixture{clock: newClock()}
	f.sp = newFakeSpotify(f.clock.Now, time.Hour)
	f.path = filepath.Join(t.TempDir(), "data", "tokens.json")
	f.open(t, mutate...)
	return f
}

func (f *fixture) open(t *testing.T, mutate ...func(*tokenstore.Config)) {
	t.Helper()
	st, err := tokenstore.OpenFileStore(f.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.store = st
	f.m = metrics.New(prometheus.NewRegistry())
	cfg := tokenstore.Config{
		Store: st, Refresher: f.sp, Metrics: f.m, Now: f.clock.Now, AppAccount: "app",
		RefreshAhead: 5 * time.Minute, ScanInterval: -1,
	}
	for _, fn := range mutate {
		fn(&cfg)
	}
	f.src = tokenstore.NewSource(cfg)
	f.src.Run()
	t.Cleanup(func() { f.close() })
}

func (f *fixture) close() {
	if f.src != nil {
		f.src.Close()
		f.store.Close()
		f.src = nil
	}
}

func (f *fixture) seed(t *testing.T, account string) string {
	t.Helper()
	rt := f.sp.issue()
	if ok, err := f.src.Seed(context.Background(), account, rt); err != nil || !ok {
		t.Fatalf("seed: %v %v", ok, err)
	}
	return rt
}

func refreshes(m *metrics.Metrics, trigger, result string) float64 {
	return testutil.ToFloat64(m.TokenRefreshes.WithLabelValues(trigger, result))
}

func TestTokenIsCachedAndRefreshedOnlyAtExpiry(t *testing.T) {
	f := newFixture(t)
	f.seed(t, "default")
	ctx := context.Background()
	c1, err := f.src.Token(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if c1.Authorization != "Bearer "+c1.AccessToken || c1.AccessToken == "" {
		t.Fatalf("credential %+v", c1)
	}
	for range 100 {
		c, err := f.src.Token(ctx, "default")
		if err != nil || c != c1 {
			t.Fatalf("cached token not reused: %v", err)
		}
	}
	if n := f.sp.calls.Load(); n != 1 {
		t.Fatalf("token calls = %d, want 1", n)
	}
	f.clock.Add(2 * time.Hour)
	c2, err := f.src.Token(ctx, "default")
	if err != nil || c2.AccessToken == c1.AccessToken {
		t.Fatalf("expired token not refreshed: %v", err)
	}
	if got := refreshes(f.m, "expired", "success"); got != 2 {
		t.Fatalf("expired/success refreshes = %v, want 2", got)
	}
}

func TestSingleFlightAtExpiry(t *testing.T) {
	f := newFixture(t)
	f.seed(t, "default")
	f.sp.block = make(chan struct{})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.src.Token(ctx, "default"); err != nil {
				errs <- err
			}
		}()
	}
	// Let every caller pile up on the one flight, then answer it.
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(f.m.RefreshRaces.WithLabelValues("coalesced")) < 199 {
		if time.Now().After(deadline) {
			t.Fatal("callers did not coalesce")
		}
		time.Sleep(time.Millisecond)
	}
	close(f.sp.block)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := f.sp.calls.Load(); n != 1 {
		t.Fatalf("token calls = %d, want exactly 1", n)
	}
}

func TestRefreshAheadServesCurrentTokenWhileRefreshing(t *testing.T) {
	f := newFixture(t)
	f.seed(t, "default")
	ctx := context.Background()
	c1, _ := f.src.Token(ctx, "default")
	f.sp.block = make(chan struct{})
	f.clock.Add(time.Hour - 4*time.Minute) // inside the 5m ahead window
	c2, err := f.src.Token(ctx, "default")
	if err != nil || c2 != c1 {
		t.Fatalf("a request waited for or failed on the ahead refresh: %v", err)
	}
	close(f.sp.block)
	waitFor(t, func() bool {
		c, _ := f.src.Token(ctx, "default")
		return c.AccessToken != c1.AccessToken
	})
	if got := refreshes(f.m, "ahead", "success"); got != 1 {
		t.Fatalf("ahead refreshes = %v, want 1", got)
	}
}

func TestRotationSurvivesRestartAndSeedIsNotReused(t *testing.T) {
	f := newFixture(t)
	seed := f.seed(t, "default")
	ctx := context.Background()
	for range 5 {
		if _, err := f.src.Token(ctx, "default"); err != nil {
			t.Fatal(err)
		}
		f.clock.Add(2 * time.Hour)
	}
	f.close()
	f.open(t)
	if ok, err := f.src.Seed(ctx, "default", seed); ok || err != nil {
		t.Fatalf("stale seed replaced the stored token: %v %v", ok, err)
	}
	if _, err := f.src.Token(ctx, "default"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if n := f.sp.invalid.Load(); n != 0 {
		t.Fatalf("invalid_grant answers = %d, want 0", n)
	}
	rec, _ := f.store.Get(ctx, "default")
	if !f.sp.live[rec.RefreshToken] || rec.RefreshToken == seed {
		t.Fatalf("stored refresh token is not the live one")
	}
	fi, err := os.Stat(f.path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v %v", fi.Mode(), err)
	}
}

func TestAnswerWithoutRefreshTokenKeepsStoredOne(t *testing.T) {
	f := newFixture(t)
	rt := f.seed(t, "default")
	f.sp.omit = true
	if _, err := f.src.Token(context.Background(), "default"); err != nil {
		t.Fatal(err)
	}
	rec, _ := f.store.Get(context.Background(), "default")
	if rec.RefreshToken != rt {
		t.Fatalf("refresh token %q, want the stored %q", rec.RefreshToken, rt)
	}
	if !rec.ObtainedAt.IsZero() {
		t.Fatalf("obtained_at changed without a new refresh token")
	}
}

func TestInvalidGrantMarksReauthWithoutHammering(t *testing.T) {
	f := newFixture(t, func(c *tokenstore.Config) { c.ReauthBackoff = 5 * time.Minute })
	if _, err := f.src.Seed(context.Background(), "default", "dead-token"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 50 {
		if _, err := f.src.Token(ctx, "default"); !errors.Is(err, tokenstore.ErrReauthRequired) {
			t.Fatalf("err = %v, want ErrReauthRequired", err)
		}
	}
	if n := f.sp.calls.Load(); n != 1 {
		t.Fatalf("token calls = %d, want 1 (no hammering)", n)
	}
	rec, _ := f.store.Get(ctx, "default")
	if rec.Status != tokenstore.StatusReauthRequired || rec.RefreshToken != "dead-token" {
		t.Fatalf("record %v: want reauth_required keeping the refresh token", rec.Status)
	}
	f.clock.Add(6 * time.Minute) // the backoff passed: one more try
	_, _ = f.src.Token(ctx, "default")
	if n := f.sp.calls.Load(); n != 2 {
		t.Fatalf("token calls after backoff = %d, want 2", n)
	}
	// A new token delivered clears the state at once.
	if err := f.src.Deliver(ctx, "default", tokenstore.Delivery{RefreshToken: f.sp.issue()}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.src.Token(ctx, "default"); err != nil {
		t.Fatalf("after delivery: %v", err)
	}
}

func TestTemporaryFailureBacksOffAndRecovers(t *testing.T) {
	f := newFixture(t, func(c *tokenstore.Config) {
		c.RetryBase, c.RetryMax, c.RetryMaxExpired = 10*time.Second, time.Minute, time.Minute
	})
	f.seed(t, "default")
	f.sp.failNext = 3
	ctx := context.Background()
	_, err := f.src.Token(ctx, "default")
	var ue *tokenstore.UnavailableError
	if !errors.As(err, &ue) || ue.RetryAfter < 5*time.Second || ue.RetryAfter > 10*time.Second {
		t.Fatalf("err = %v, want UnavailableError with Retry-After in [5s,10s]", err)
	}
	// Within the backoff: no new token call.
	for range 10 {
		_, _ = f.src.Token(ctx, "default")
	}
	if n := f.sp.calls.Load(); n != 1 {
		t.Fatalf("token calls during backoff = %d, want 1", n)
	}
	f.clock.Add(11 * time.Second)
	_, err = f.src.Token(ctx, "default")
	if !errors.As(err, &ue) || ue.RetryAfter < 10*time.Second {
		t.Fatalf("second failure: %v, want a longer backoff", err)
	}
	f.clock.Add(time.Minute)
	_, _ = f.src.Token(ctx, "default") // third failure
	f.clock.Add(2 * time.Minute)
	if _, err := f.src.Token(ctx, "default"); err != nil {
		t.Fatalf("no recovery: %v", err)
	}
	if got := refreshes(f.m, "expired", "error"); got != 3 {
		t.Fatalf("error refreshes = %v, want 3", got)
	}
}

// While callers get errors, the backoff stays short (RetryMaxExpired), so tokens come
// back soon after the token endpoint does.
func TestBackoffIsShortWhenNoTokenIsLeft(t *testing.T) {
	f := newFixture(t, func(c *tokenstore.Config) {
		c.RetryBase, c.RetryMax, c.RetryMaxExpired = 10*time.Second, 10*time.Minute, 15*time.Second
	})
	f.seed(t, "default")
	f.sp.failNext = 8
	ctx := context.Background()
	for i := range 8 {
		_, err := f.src.Token(ctx, "default")
		var ue *tokenstore.UnavailableError
		if !errors.As(err, &ue) || ue.RetryAfter > 15*time.Second {
			t.Fatalf("failure %d: %v, want UnavailableError with Retry-After ≤ 15s", i+1, err)
		}
		f.clock.Add(ue.RetryAfter + time.Millisecond)
	}
	if _, err := f.src.Token(ctx, "default"); err != nil {
		t.Fatalf("after the endpoint recovered: %v", err)
	}
	if n := f.sp.calls.Load(); n != 9 {
		t.Fatalf("token calls = %d, want 9", n)
	}
}

// A token that runs out during a long backoff (failures while it was still served)
// switches to the short one: the next request after it tries the endpoint again.
func TestBackoffShortensWhenTheServedTokenExpires(t *testing.T) {
	f := newFixture(t, func(c *tokenstore.Config) {
		c.RetryBase, c.RetryMax, c.RetryMaxExpired = 5*time.Minute, 10*time.Minute, 15*time.Second
	})
	f.seed(t, "default")
	ctx := context.Background()
	c1, err := f.src.Token(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	f.sp.failNext = 1
	f.clock.Add(time.Hour - time.Minute) // inside the refresh-ahead window
	if c, err := f.src.Token(ctx, "default"); err != nil || c.AccessToken != c1.AccessToken {
		t.Fatalf("valid token not served: %v", err)
	}
	waitFor(t, func() bool { return refreshes(f.m, "ahead", "error") == 1 })
	f.clock.Add(2 * time.Minute) // expired; the long backoff (≥ 2.5 min) has not ended
	c2, err := f.src.Token(ctx, "default")
	if err != nil || c2.AccessToken == c1.AccessToken {
		t.Fatalf("after expiry: %v, want a new token", err)
	}
}

func TestFailureWhileTokenValidKeepsServingIt(t *testing.T) {
	f := newFixture(t)
	f.seed(t, "default")
	ctx := context.Background()
	c1, _ := f.src.Token(ctx, "default")
	f.sp.failNext = 100
	f.clock.Add(time.Hour - time.Minute)
	for range 3 {
		c, err := f.src.Token(ctx, "default")
		if err != nil || c.AccessToken != c1.AccessToken {
			t.Fatalf("valid token not served during failures: %v", err)
		}
	}
	waitFor(t, func() bool { return refreshes(f.m, "ahead", "error") >= 1 })
	rec, _ := f.store.Get(ctx, "default")
	if rec.RefreshToken == "" || rec.Status != tokenstore.StatusOK {
		t.Fatal("a temporary failure touched the stored refresh token")
	}
}

func TestInvalidateRefreshesOnlyTheCurrentToken(t *testing.T) {
	f := newFixture(t)
	f.seed(t, "default")
	ctx := context.Background()
	c1, _ := f.src.Token(ctx, "default")
	c2, err := f.src.Invalidate(ctx, "default", c1.AccessToken, f.clock.Now())
	if err != nil || c2.AccessToken == c1.AccessToken {
		t.Fatalf("invalidate did not refresh: %v", err)
	}
	// A late 401 for the old token takes the current one without a refresh.
	c3, err := f.src.Invalidate(ctx, "default", c1.AccessToken, f.clock.Now())
	if err != nil || c3.AccessToken != c2.AccessToken {
		t.Fatalf("late 401 caused another refresh")
	}
	if n := f.sp.calls.Load(); n != 2 {
		t.Fatalf("token calls = %d, want 2", n)
	}
	if got := refreshes(f.m, "unauthorized", "success"); got != 1 {
		t.Fatalf("unauthorized refreshes = %v", got)
	}
}

func TestUnknownAccountAndClientCredentials(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.src.Token(ctx, "nobody"); !errors.Is(err, tokenstore.ErrNoToken) {
		t.Fatalf("err = %v, want ErrNoToken", err)
	}
	c, err := f.src.Token(ctx, "app")
	if err != nil || !strings.HasPrefix(c.AccessToken, "cc-") {
		t.Fatalf("app account: %v", err)
	}
	if f.sp.ccCalls.Load() != 1 || f.sp.calls.Load() != 0 {
		t.Fatal("app account must use the client_credentials grant only")
	}
}

func TestDeliverRefusesOlderToken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	t0 := f.clock.Now()
	if err := f.src.Deliver(ctx, "u1", tokenstore.Delivery{RefreshToken: "r-new", ObtainedAt: t0}); err != nil {
		t.Fatal(err)
	}
	err := f.src.Deliver(ctx, "u1", tokenstore.Delivery{RefreshToken: "r-old", ObtainedAt: t0.Add(-time.Minute)})
	if !errors.Is(err, tokenstore.ErrStaleDelivery) {
		t.Fatalf("err = %v, want ErrStaleDelivery", err)
	}
	rec, _ := f.store.Get(ctx, "u1")
	if rec.RefreshToken != "r-new" {
		t.Fatal("stale delivery overwrote the newer token")
	}
}

func TestCorruptFileStopsStartAndIsLeftAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	bad := []byte(`{"format":1,"accounts":{"default":{`)
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := tokenstore.OpenFileStore(path, nil)
	if !errors.Is(err, tokenstore.ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want a corrupt-file error naming the file", err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != string(bad) {
		t.Fatal("corrupt file was modified")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// A token living shorter than the refresh-ahead window is refreshed once per half
// lifetime, not on every request.
func TestShortLivedTokenIsNotRefreshedOnEveryRequest(t *testing.T) {
	f := newFixture(t) // RefreshAhead 5m
	f.sp.lifetime = time.Minute
	f.seed(t, "default")
	ctx := context.Background()
	for range 60 {
		if _, err := f.src.Token(ctx, "default"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return f.sp.calls.Load() == f.sp.done.Load() })
		f.clock.Add(time.Second)
	}
	// 60 s of traffic on 60 s tokens refreshed at half-life: about 2 refreshes.
	if n := f.sp.calls.Load(); n < 2 || n > 3 {
		t.Fatalf("token calls = %d over one lifetime, want 2–3", n)
	}
}

// putPeerToken writes a record as a peer replica would after a refresh.
func (f *fixture) putPeerToken(t *testing.T, account, access string, refreshedAt time.Time) {
	t.Helper()
	ctx := context.Background()
	cur, err := f.store.Get(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	cur.AccessToken, cur.Expiry, cur.RefreshedAt, cur.Status = access, f.clock.Now().Add(time.Hour), refreshedAt, tokenstore.StatusOK
	if _, err := f.store.Put(ctx, cur, cur.Version); err != nil {
		t.Fatal(err)
	}
}

// A 401 takes a stored token only if its refresh began after the 401 arrived: a token
// stored before that may have died in the same revocation.
func TestInvalidateTakesOnlyTokensRefreshedAfterThe401(t *testing.T) {
	f := newFixture(t)
	f.seed(t, "default")
	ctx := context.Background()
	c1, _ := f.src.Token(ctx, "default")
	f.clock.Add(time.Minute)
	f.putPeerToken(t, "default", "peer-before", f.clock.Now())
	f.clock.Add(2 * time.Second)
	c2, err := f.src.Invalidate(ctx, "default", c1.AccessToken, f.clock.Now())
	if err != nil || c2.AccessToken == "peer-before" || f.sp.calls.Load() != 2 {
		t.Fatalf("took a token stored before the request (%v, calls %d)", err, f.sp.calls.Load())
	}
	f.putPeerToken(t, "default", "peer-after", f.clock.Now().Add(time.Second))
	c3, err := f.src.Invalidate(ctx, "default", c2.AccessToken, f.clock.Now())
	if err != nil || c3.AccessToken != "peer-after" || f.sp.calls.Load() != 2 {
		t.Fatalf("did not take the peer's newer token (%v, calls %d)", err, f.sp.calls.Load())
	}
}

// A stored token refreshed while the rejected request was in flight may have died
// in the same revocation, so the account is refreshed; but when the token endpoint
// fails, a retry with that token beats an error.
func TestInvalidateFallsBackToAStoredTokenWhenNoRefreshCanBeHad(t *testing.T) {
	f := newFixture(t)
	f.seed(t, "default")
	ctx := context.Background()
	c1, _ := f.src.Token(ctx, "default")
	f.clock.Add(time.Second) // the request with c1 is sent
	f.putPeerToken(t, "default", "peer-in-flight", f.clock.Now())
	f.clock.Add(time.Second) // the 401 arrives
	f.sp.failNext = 1
	c2, err := f.src.Invalidate(ctx, "default", c1.AccessToken, f.clock.Now())
	if err != nil || c2.AccessToken != "peer-in-flight" {
		t.Fatalf("got %v, %v; want the stored token after the failed refresh", c2, err)
	}
	if n := f.sp.calls.Load(); n != 2 {
		t.Fatalf("token calls = %d, want 2 (the refresh was tried first)", n)
	}
}

// A 401 that arrives while a refresh-ahead is in flight does not take that refresh's
// token: Spotify issued it before the 401, so it may have died in the same revocation.
// The caller waits for a refresh of its own.
func TestInvalidateDuringARefreshAheadRefreshesAgain(t *testing.T) {
	f := newFixture(t)
	f.seed(t, "default")
	ctx := context.Background()
	c1, _ := f.src.Token(ctx, "default")
	f.sp.block = make(chan struct{})
	f.clock.Add(time.Hour - time.Minute) // inside the ahead window
	if c, err := f.src.Token(ctx, "default"); err != nil || c.AccessToken != c1.AccessToken {
		t.Fatalf("valid token not served during the refresh-ahead: %v", err)
	}
	waitFor(t, func() bool { return f.sp.calls.Load() == 2 }) // the ahead call is in flight
	f.clock.Add(time.Second)                                  // the 401 to c1 arrives
	type result struct {
		cred *tokenstore.Credential
		err  error
	}
	got := make(chan result, 1)
	go func() {
		c, err := f.src.Invalidate(ctx, "default", c1.AccessToken, f.clock.Now())
		got <- result{c, err}
	}()
	waitFor(t, func() bool { return testutil.ToFloat64(f.m.RefreshRaces.WithLabelValues("coalesced")) == 1 })
	close(f.sp.block)
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	f.sp.mu.Lock()
	last := f.sp.lastToken
	f.sp.mu.Unlock()
	if n := f.sp.calls.Load(); n != 3 || r.cred.AccessToken != last {
		t.Fatalf("got %s after %d token calls; want the token of a third call (%s)", r.cred.AccessToken, n, last)
	}
}

// A remembered reauth_required answers for a moment only; then the store is read
// again, so a repair by a peer is seen even if its invalidation message was lost.
func TestRememberedReauthSeesARepairWithoutNotification(t *testing.T) {
	f := newFixture(t)
	if _, err := f.src.Seed(context.Background(), "default", "dead-token"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := f.src.Token(ctx, "default"); !errors.Is(err, tokenstore.ErrReauthRequired) {
		t.Fatalf("err = %v", err)
	}
	// A peer stores a live token (no Notifier in this fixture: nothing is published).
	rec, _ := f.store.Get(ctx, "default")
	rec.RefreshToken, rec.AccessToken, rec.Expiry, rec.Status, rec.RefreshedAt = f.sp.issue(), "repaired", f.clock.Now().Add(time.Hour), tokenstore.StatusOK, f.clock.Now()
	if _, err := f.store.Put(ctx, rec, rec.Version); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(3 * time.Second)
	c, err := f.src.Token(ctx, "default")
	if err != nil || c.AccessToken != "repaired" {
		t.Fatalf("repair not seen: %v", err)
	}
	if n := f.sp.calls.Load(); n != 1 {
		t.Fatalf("token calls = %d, want 1", n)
	}
}

// While the token endpoint backs off, a token a peer stored is served as soon as the
// remembered error lapses, without waiting for the backoff.
func TestBackoffDoesNotHideAStoredToken(t *testing.T) {
	f := newFixture(t, func(c *tokenstore.Config) { c.RetryBase, c.RetryMax = time.Minute, time.Minute })
	f.seed(t, "default")
	f.sp.failNext = 1
	ctx := context.Background()
	if _, err := f.src.Token(ctx, "default"); err == nil {
		t.Fatal("want UnavailableError")
	}
	f.putPeerToken(t, "default", "peer-token", f.clock.Now())
	f.clock.Add(3 * time.Second)
	c, err := f.src.Token(ctx, "default")
	if err != nil || c.AccessToken != "peer-token" {
		t.Fatalf("stored token not served during the backoff: %v", err)
	}
	if n := f.sp.calls.Load(); n != 1 {
		t.Fatalf("token calls = %d, want 1 (the backoff holds)", n)
	}
}
