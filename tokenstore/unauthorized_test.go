package tokenstore_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

func withFloor(d time.Duration) func(*tokenstore.Config) {
	return func(c *tokenstore.Config) { c.UnauthorizedRefreshInterval = d }
}

// storm sends n sequential requests for account, each rejected with a 401 (the
// retry with a replacement token too, as an endpoint that rejects every token does),
// moving the clock by step between them. It returns how many 401s passed through
// without a refresh.
func storm(t *testing.T, src *tokenstore.Source, c *clock, account string, n int, step time.Duration) (passed int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		cred, err := src.Token(ctx, account)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		c.Add(step / 2)
		_, err = src.Invalidate(ctx, account, cred.AccessToken, c.Now())
		switch {
		case errors.Is(err, tokenstore.ErrRefreshTooSoon):
			passed++
		case err != nil:
			t.Fatalf("request %d: %v", i, err)
		}
		c.Add(step - step/2)
	}
	return passed
}

// TestUnauthorizedStormCostsOneRefreshPerInterval: 20 sequential 401s for one
// account cost one 401-caused token call within UNAUTHORIZED_REFRESH_INTERVAL (today,
// without the floor, 20); the other 19 pass through. After the interval, the next
// 401 refreshes again.
func TestUnauthorizedStormCostsOneRefreshPerInterval(t *testing.T) {
	f := newFixture(t, withFloor(5*time.Second))
	f.seed(t, "default")
	if _, err := f.src.Token(context.Background(), "default"); err != nil { // the first token: trigger expired
		t.Fatal(err)
	}
	before := f.sp.calls.Load()
	passed := storm(t, f.src, f.clock, "default", 20, 200*time.Millisecond) // 4s: within the floor
	if calls := f.sp.calls.Load() - before; calls != 1 || passed != 19 {
		t.Fatalf("20 sequential 401s: %d token calls, %d passed through; want 1 and 19", calls, passed)
	}
	if got := refreshes(f.m, "unauthorized", "success"); got != 1 {
		t.Fatalf("unauthorized refreshes = %v, want 1", got)
	}
	// The floor has passed: the next 401 refreshes (once), and the floor starts again.
	f.clock.Add(time.Second)
	passed = storm(t, f.src, f.clock, "default", 20, 200*time.Millisecond)
	if calls := f.sp.calls.Load() - before; calls != 2 || passed != 19 {
		t.Fatalf("after the floor: %d token calls in all, %d passed through; want 2 and 19", calls, passed)
	}
}

// TestUnauthorizedFloorZeroRefreshesEveryTime: 0 means no floor (today's behaviour).
func TestUnauthorizedFloorZeroRefreshesEveryTime(t *testing.T) {
	f := newFixture(t, withFloor(0))
	f.seed(t, "default")
	if _, err := f.src.Token(context.Background(), "default"); err != nil {
		t.Fatal(err)
	}
	before := f.sp.calls.Load()
	if passed := storm(t, f.src, f.clock, "default", 20, 200*time.Millisecond); passed != 0 || f.sp.calls.Load()-before != 20 {
		t.Fatalf("no floor: %d passed, %d calls; want 0 and 20", passed, f.sp.calls.Load()-before)
	}
}

// TestUnauthorizedFloorOnlyForTokensObtainedBecauseOfA401: within the interval, a 401
// for a token refreshed for any other reason (ahead, expired, delivered) still
// refreshes, and a late 401 for an older token takes the 401-caused one.
func TestUnauthorizedFloorOnlyForTokensObtainedBecauseOfA401(t *testing.T) {
	f := newFixture(t, withFloor(5*time.Second))
	f.seed(t, "default")
	ctx := context.Background()
	c0, err := f.src.Token(ctx, "default") // trigger expired, refreshed just now
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(100 * time.Millisecond)
	c1, err := f.src.Invalidate(ctx, "default", c0.AccessToken, f.clock.Now())
	if err != nil || c1.AccessToken == c0.AccessToken {
		t.Fatalf("a 401 for a token obtained at expiry moments ago must refresh: %v", err)
	}
	f.clock.Add(100 * time.Millisecond)
	// A late 401 for c0 (a request in flight before the refresh): c1 answers it.
	c2, err := f.src.Invalidate(ctx, "default", c0.AccessToken, f.clock.Now())
	if err != nil || c2.AccessToken != c1.AccessToken {
		t.Fatalf("a late 401 for the older token: %v, %v; want the 401-caused token", c2, err)
	}
	// A token delivered by the admin API meanwhile (no refresh trigger) is refreshed
	// on its first 401.
	if err := f.src.Deliver(ctx, "default", tokenstore.Delivery{
		RefreshToken: f.sp.issue(), AccessToken: "delivered", Expiry: f.clock.Now().Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := f.src.Token(ctx, "default"); err != nil || got.AccessToken != "delivered" {
		t.Fatalf("delivered token not served: %v", err)
	}
	f.clock.Add(100 * time.Millisecond)
	c3, err := f.src.Invalidate(ctx, "default", "delivered", f.clock.Now())
	if err != nil || c3.AccessToken == "delivered" {
		t.Fatalf("a 401 for a delivered token must refresh: %v", err)
	}
	if n := refreshes(f.m, "unauthorized", "success"); n != 2 {
		t.Fatalf("unauthorized refreshes = %v, want 2", n)
	}
}

// TestUnauthorizedFloorIsSharedThroughTheStore: the floor lives in the stored
// record's provenance, so a replica that did not make the 401-caused refresh
// respects it too.
func TestUnauthorizedFloorIsSharedThroughTheStore(t *testing.T) {
	f := newFixture(t, withFloor(5*time.Second))
	f.seed(t, "default")
	ctx := context.Background()
	c0, _ := f.src.Token(ctx, "default")
	f.clock.Add(100 * time.Millisecond)
	c1, err := f.src.Invalidate(ctx, "default", c0.AccessToken, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	peer := tokenstore.NewSource(tokenstore.Config{
		Store: f.store, Refresher: f.sp, Metrics: metrics.New(prometheus.NewRegistry()), Now: f.clock.Now,
		ScanInterval: -1, UnauthorizedRefreshInterval: 5 * time.Second,
	})
	defer peer.Close()
	if got, err := peer.Token(ctx, "default"); err != nil || got.AccessToken != c1.AccessToken {
		t.Fatalf("peer token: %v", err)
	}
	calls := f.sp.calls.Load()
	f.clock.Add(time.Second)
	if _, err := peer.Invalidate(ctx, "default", c1.AccessToken, f.clock.Now()); !errors.Is(err, tokenstore.ErrRefreshTooSoon) {
		t.Fatalf("peer's 401 for the 401-caused token: %v, want ErrRefreshTooSoon", err)
	}
	if f.sp.calls.Load() != calls {
		t.Fatal("the peer refreshed within the floor")
	}
}

// TestProxyPassesSpotifys401ThroughDuringAStorm: through the proxy, 20 sequential
// requests to an endpoint that answers every token with 401 cost one 401-caused
// token call (today 20), and every caller gets Spotify's own 401, body included.
func TestProxyPassesSpotifys401ThroughDuringAStorm(t *testing.T) {
	f := newFixture(t, withFloor(5*time.Second))
	f.seed(t, "default")
	const body = `{"error":{"status":401,"message":"Only valid bearer authentication supported"}}`
	var upstreamCalls atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, body)
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	p, err := proxy.New(proxy.Config{Upstream: u, Tokens: f.src, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	px := httptest.NewServer(p)
	defer px.Close()
	for i := range 20 {
		resp, err := http.Get(px.URL + "/v1/me")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || strings.TrimSpace(string(b)) != body {
			t.Fatalf("request %d: %d %s; want Spotify's own 401", i, resp.StatusCode, b)
		}
		f.clock.Add(100 * time.Millisecond)
	}
	if n := refreshes(f.m, "unauthorized", "success"); n != 1 {
		t.Fatalf("20 sequential 401s: %v 401-caused token calls, want 1", n)
	}
	if n := f.sp.calls.Load(); n != 2 { // the first token, then one refresh for the 401
		t.Fatalf("token calls = %d, want 2", n)
	}
	if n := upstreamCalls.Load(); n != 21 { // one retry, for the first 401
		t.Fatalf("upstream calls = %d, want 21", n)
	}
}

// After a 401, an invalid_grant caused by a peer's rotation (here: a peer storing,
// during our token call, a rotated token it held in memory since before the 401) is
// recovered by refreshing with the peer's refresh token, not by taking the peer's
// access token: that one was obtained before the 401 arrived and may have died in the
// same revocation, and a refresh can be had.
func TestInvalidateAfterAPeersRotationTakesOnlyATrustedToken(t *testing.T) {
	f := newFixture(t)
	f.seed(t, "default")
	ctx := context.Background()
	c1, err := f.src.Token(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	peerRefreshedAt := f.clock.Now().Add(time.Second) // the peer's refresh, before the 401
	f.clock.Add(2 * time.Second)                      // the 401 arrives
	rejectedAt := f.clock.Now()
	f.sp.gate = func(call int64) {
		if call != 2 {
			return
		}
		// The peer's rotation lands during our token call: our refresh token dies.
		cur, err := f.store.Get(ctx, "default")
		if err != nil {
			t.Error(err)
			return
		}
		f.sp.mu.Lock()
		delete(f.sp.live, cur.RefreshToken)
		f.sp.mu.Unlock()
		cur.RefreshToken = f.sp.issue()
		cur.AccessToken, cur.Expiry, cur.RefreshedAt, cur.Cause = "peer-before-the-401", f.clock.Now().Add(time.Hour), peerRefreshedAt, tokenstore.CauseAhead
		if _, err := f.store.Put(ctx, cur, cur.Version); err != nil {
			t.Error(err)
		}
	}
	c2, err := f.src.Invalidate(ctx, "default", c1.AccessToken, rejectedAt)
	if err != nil {
		t.Fatal(err)
	}
	if c2.AccessToken == "peer-before-the-401" || c2.AccessToken == c1.AccessToken || f.sp.calls.Load() != 3 {
		t.Fatalf("Invalidate answered %q after %d token calls; want a token refreshed with the peer's refresh token (3 calls)", c2.AccessToken, f.sp.calls.Load())
	}
	if got := refreshes(f.m, metrics.TriggerUnauthorized, metrics.ResultInvalidGrant); got != 1 {
		t.Fatalf("unauthorized/invalid_grant = %v, want 1", got)
	}
}
