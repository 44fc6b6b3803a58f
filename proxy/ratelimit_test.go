package proxy_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
)

type spotifyErr struct {
	Error struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
	} `json:"error"`
}

func get(t *testing.T, e *env, path string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.proxy.URL+path, nil)
	return do(t, req)
}

func withGate(g *ratelimit.Gate) func(*proxy.Config) {
	return func(c *proxy.Config) { c.RateLimit = g }
}

// A 429 passes through unchanged; while the block lasts Spotify is not called and
// callers get the proxy's 429 with the remaining seconds and Spotify's reason.
func TestUpstream429BlocksAndPassesThrough(t *testing.T) {
	const body = `{"error":{"status":429,"message":"quota","reason":"QUOTA_EXCEEDED"}}`
	var calls atomic.Int64
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		calls.Add(1)
		w.Header().Set("Retry-After", "30")
		w.Header().Set("X-Spotify", "kept")
		w.WriteHeader(429)
		_, _ = w.Write([]byte(body))
	})
	e := newProxy(t, up, func(c *proxy.Config) {
		c.RateLimit = ratelimit.NewGate(ratelimit.Config{App: "app", Metrics: c.Metrics})
	})
	resp, b := get(t, e, "/v1/me")
	if resp.StatusCode != 429 || string(b) != body || resp.Header.Get("Retry-After") != "30" || resp.Header.Get("X-Spotify") != "kept" {
		t.Fatalf("Spotify's 429 changed: %d %s %v", resp.StatusCode, b, resp.Header)
	}
	for range 5 {
		resp, b = get(t, e, "/v1/me")
		var se spotifyErr
		if err := json.Unmarshal(b, &se); err != nil || resp.StatusCode != 429 || se.Error.Status != 429 || se.Error.Reason != "QUOTA_EXCEEDED" {
			t.Fatalf("during the block: %d %s", resp.StatusCode, b)
		}
		if ra := resp.Header.Get("Retry-After"); ra != "30" && ra != "29" {
			t.Fatalf("Retry-After %q", ra)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("Spotify called %d times, want 1", n)
	}
	if n := testutil.ToFloat64(e.m.RateLimitedRequests(metrics.OutcomeRejected, metrics.CauseUpstream429)); n != 5 {
		t.Fatalf("rejected = %v", n)
	}
}

// Without Spotify's reason the proxy's own is used; a missing Retry-After blocks 1s.
func TestUpstream429WithoutRetryAfter(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { w.WriteHeader(429) })
	clock := time.Now()
	e := newProxy(t, up, func(c *proxy.Config) {
		c.Now = func() time.Time { return clock }
		c.RateLimit = ratelimit.NewGate(ratelimit.Config{App: "app", Clock: fixedClock{clock}})
	})
	get(t, e, "/v1/me")
	resp, b := get(t, e, "/v1/me")
	var se spotifyErr
	_ = json.Unmarshal(b, &se)
	if resp.StatusCode != 429 || se.Error.Reason != "PROXY_RATE_LIMITED" || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("%d %s %v", resp.StatusCode, b, resp.Header)
	}
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time                         { return c.t }
func (c fixedClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// The budget rejects past its burst with the time until a slot frees.
func TestBudgetRejectsWithProxyReason(t *testing.T) {
	var calls atomic.Int64
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { calls.Add(1) })
	e := newProxy(t, up, func(c *proxy.Config) {
		c.RateLimit = ratelimit.NewGate(ratelimit.Config{App: "app", Metrics: c.Metrics,
			Budget: ratelimit.NewMemoryBudget(ratelimit.Limit{N: 2, Per: time.Hour}, ratelimit.Limit{}, nil)})
	})
	get(t, e, "/v1/me")
	get(t, e, "/v1/me")
	resp, b := get(t, e, "/v1/me")
	var se spotifyErr
	_ = json.Unmarshal(b, &se)
	if resp.StatusCode != 429 || se.Error.Reason != "PROXY_RATE_LIMITED" || resp.Header.Get("Retry-After") != "3636" || calls.Load() != 2 {
		t.Fatalf("%d %s %v calls=%d", resp.StatusCode, b, resp.Header, calls.Load())
	}
}

// With the gate on Redis and no budget, requests make no store round trip.
func TestNoStoreRoundTripWithoutBudget(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer client.Close()
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {})
	budget := false
	for _, withBudget := range []bool{false, true} {
		budget = withBudget
		e := newProxy(t, up, func(c *proxy.Config) {
			gc := ratelimit.Config{App: "app", Sharer: ratelimit.NewRedisBlocks(client, "p:", nil)}
			if budget {
				gc.Budget = ratelimit.NewRedisBudget(client, "p:", "app", ratelimit.Limit{N: 1000, Per: time.Second}, ratelimit.Limit{})
			}
			c.RateLimit = ratelimit.NewGate(gc)
		})
		before := mr.CommandCount()
		for range 20 {
			if resp, _ := get(t, e, "/v1/me"); resp.StatusCode != 200 {
				t.Fatal(resp.StatusCode)
			}
		}
		n := mr.CommandCount() - before
		if !withBudget && n != 0 {
			t.Fatalf("%d Redis commands for 20 requests without a budget, want 0", n)
		}
		if withBudget && n < 20 {
			t.Fatalf("%d Redis commands for 20 requests with a budget: the count does not see them", n)
		}
	}
}

// GET and HEAD are retried after 502/503/504 and connection errors; POST and 429 are not.
func TestSafeRetries(t *testing.T) {
	var n atomic.Int64
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		switch r.URL.Path {
		case "/v1/flaky": // 503, 502, then 200
			switch n.Add(1) {
			case 1:
				w.WriteHeader(503)
			case 2:
				w.WriteHeader(502)
			}
		case "/v1/down":
			n.Add(1)
			w.WriteHeader(504)
		case "/v1/limited":
			n.Add(1)
			w.WriteHeader(429)
		case "/v1/hangup":
			n.Add(1)
		}
	})
	e := newProxy(t, up, func(c *proxy.Config) {
		c.UpstreamRetries = 2
		c.RetryBackoff = time.Millisecond
		c.Transport = &dropFirst{base: http.DefaultTransport, calls: &n}
	})
	check := func(method, path string, wantStatus int, wantCalls int64) {
		t.Helper()
		n.Store(0)
		req, _ := http.NewRequest(method, e.proxy.URL+path, nil)
		resp, _ := do(t, req)
		if resp.StatusCode != wantStatus || n.Load() != wantCalls {
			t.Fatalf("%s %s: %d after %d calls, want %d after %d", method, path, resp.StatusCode, n.Load(), wantStatus, wantCalls)
		}
	}
	check("GET", "/v1/flaky", 200, 3)
	check("HEAD", "/v1/flaky", 200, 3)
	check("GET", "/v1/down", 504, 3) // UPSTREAM_RETRIES=2: three calls in all
	check("POST", "/v1/flaky", 503, 1)
	check("GET", "/v1/limited", 429, 1)
	check("GET", "/v1/hangup", 200, 2)
	if v := testutil.ToFloat64(e.m.UpstreamRetries.WithLabelValues(metrics.RetryServerError, "success")); v != 2 {
		t.Fatalf("upstream_5xx successes = %v", v)
	}
	if v := testutil.ToFloat64(e.m.UpstreamRetries.WithLabelValues(metrics.RetryConnectionError, "success")); v != 1 {
		t.Fatalf("connection successes = %v", v)
	}
}

// The retry budget stops retries once they pass their share of the requests.
func TestRetryBudgetBoundsRetries(t *testing.T) {
	var calls atomic.Int64
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { calls.Add(1); w.WriteHeader(503) })
	e := newProxy(t, up, func(c *proxy.Config) {
		c.UpstreamRetries = 2
		c.RetryBackoff = time.Millisecond
		c.RetryBudget = ratelimit.NewRetryBudget(0.1, 0, time.Hour, nil)
	})
	for range 50 {
		get(t, e, "/v1/x")
	}
	// 50 requests allow 5 retries (each retry also counts as a request sent).
	if n := calls.Load(); n > 56 {
		t.Fatalf("%d upstream calls for 50 requests, want at most 1.1×", n)
	}
}

// A retry is not sent while a block is in force.
func TestNoRetryDuringBlock(t *testing.T) {
	var calls atomic.Int64
	var g *ratelimit.Gate
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		calls.Add(1)
		g.Record(r.Context(), time.Minute, "") // another replica's 429 arrives meanwhile
		w.WriteHeader(503)
	})
	g = ratelimit.NewGate(ratelimit.Config{App: "app"})
	e := newProxy(t, up, withGate(g), func(c *proxy.Config) { c.UpstreamRetries = 2; c.RetryBackoff = time.Millisecond })
	if resp, _ := get(t, e, "/v1/x"); resp.StatusCode != 503 || calls.Load() != 1 {
		t.Fatalf("%d after %d calls", resp.StatusCode, calls.Load())
	}
}

// dropFirst fails the first call to /v1/hangup without an answer.
type dropFirst struct {
	base    http.RoundTripper
	calls   *atomic.Int64
	dropped atomic.Bool
}

func (d *dropFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/v1/hangup" && d.dropped.CompareAndSwap(false, true) {
		d.calls.Add(1)
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	}
	return d.base.RoundTrip(r)
}
