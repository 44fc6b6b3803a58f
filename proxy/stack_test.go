package proxy_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyauth"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// stack is the whole proxy in process: emulator ← spotifyauth ← Source(FileStore) ← proxy.
type stack struct {
	emu   *spotifyemu.Emulator
	src   *tokenstore.Source
	proxy *httptest.Server
	m     *metrics.Metrics
}

func newStack(t *testing.T, lifetime, ahead time.Duration, mutate ...func(*tokenstore.Config)) *stack {
	t.Helper()
	s := &stack{emu: spotifyemu.New(spotifyemu.Options{ClientID: "cid", ClientSecret: "csecret", TokenLifetime: lifetime})}
	es := httptest.NewServer(s.emu)
	t.Cleanup(es.Close)
	st, err := tokenstore.OpenFileStore(filepath.Join(t.TempDir(), "tokens.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.m = metrics.New(prometheus.NewRegistry())
	cfg := tokenstore.Config{
		Store: st, Refresher: spotifyauth.New(spotifyauth.Config{ClientID: "cid", ClientSecret: "csecret", AccountsURL: es.URL}),
		Metrics: s.m, RefreshAhead: ahead, ScanInterval: -1,
	}
	for _, f := range mutate {
		f(&cfg)
	}
	s.src = tokenstore.NewSource(cfg)
	s.src.Run()
	t.Cleanup(func() { s.src.Close(); st.Close() })
	if _, err := s.src.Seed(context.Background(), "default", s.emu.IssueRefreshToken("user-read-private")); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(es.URL)
	p, err := proxy.New(proxy.Config{Upstream: u, Tokens: s.src, Metrics: s.m, Transport: proxy.NewTransport(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	s.proxy = httptest.NewServer(p)
	t.Cleanup(s.proxy.Close)
	return s
}

func (s *stack) get(t *testing.T, path string) (int, spotifyError, http.Header) {
	t.Helper()
	resp, err := http.Get(s.proxy.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e spotifyError
	if resp.StatusCode != 200 {
		json.Unmarshal(b, &e)
	}
	return resp.StatusCode, e, resp.Header
}

func TestStackSingleFlightAtExpiry(t *testing.T) {
	s := newStack(t, time.Hour, time.Minute)
	if code, _, _ := s.get(t, "/v1/me"); code != 200 {
		t.Fatalf("warm-up: %d", code)
	}
	// Every access token dies at once: 200 concurrent requests all get a 401 from
	// Spotify, and all of them need the same new token.
	s.emu.RevokeAccessTokens()
	s.emu.SetTokenLatency(200 * time.Millisecond) // keep the refresh open while callers pile up
	before := s.emu.Stats().RefreshCalls
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(s.proxy.URL + "/v1/me")
			if err != nil {
				bad.Add(1)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := bad.Load(); n != 0 {
		t.Fatalf("%d of 200 requests failed", n)
	}
	if got := s.emu.Stats().RefreshCalls - before; got != 1 {
		t.Fatalf("token endpoint calls for 200 concurrent requests at expiry = %d, want exactly 1", got)
	}
}

// With 5 s tokens refreshed 2 s ahead, 20 s of continuous requests see no 401, and no
// request waits for a refresh: the token endpoint answers after 600 ms, so a request
// that waited would take that long.
func TestStackRefreshAheadNoRequestWaits(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 20 s of traffic")
	}
	s := newStack(t, 5*time.Second, 2*time.Second)
	if code, _, _ := s.get(t, "/v1/me"); code != 200 {
		t.Fatal("warm-up failed")
	}
	s.emu.SetTokenLatency(600 * time.Millisecond)
	start := s.emu.Stats().RefreshCalls
	var slowest time.Duration
	n := 0
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); n++ {
		t0 := time.Now()
		code, e, _ := s.get(t, "/v1/me")
		if d := time.Since(t0); d > slowest {
			slowest = d
		}
		if code != 200 {
			t.Fatalf("request %d: %d %s", n, code, e.Error.Message)
		}
		time.Sleep(20 * time.Millisecond)
	}
	refreshes := s.emu.Stats().RefreshCalls - start
	t.Logf("%d requests, %d refreshes, slowest request %s", n, refreshes, slowest)
	if refreshes < 5 {
		t.Fatalf("only %d refreshes in 20 s of 5 s tokens", refreshes)
	}
	if slowest >= 600*time.Millisecond {
		t.Fatalf("a request waited for a refresh (slowest %s)", slowest)
	}
	if s.emu.Stats().Unauthorized != 0 {
		t.Fatalf("Spotify answered 401 %d times", s.emu.Stats().Unauthorized)
	}
}

func TestStackInvalidGrantGivesReauthWithoutHammering(t *testing.T) {
	s := newStack(t, time.Hour, time.Minute)
	s.emu.RevokeRefreshTokens()
	for range 20 {
		code, e, _ := s.get(t, "/v1/me")
		if code != 401 || e.Error.Reason != "PROXY_REAUTH_REQUIRED" {
			t.Fatalf("got %d %+v", code, e)
		}
	}
	if st := s.emu.Stats(); st.RefreshCalls != 1 || st.InvalidGrants != 1 {
		t.Fatalf("token calls %d, invalid_grant %d; want 1 and 1", st.RefreshCalls, st.InvalidGrants)
	}
}

func TestStackTokenEndpointOutageBacksOffAndRecovers(t *testing.T) {
	s := newStack(t, time.Hour, time.Minute, func(c *tokenstore.Config) {
		c.RetryBase, c.RetryMax = 50*time.Millisecond, 200*time.Millisecond
	})
	s.emu.FailTokenEndpoint(503, 3)
	code, e, h := s.get(t, "/v1/me")
	if code != 503 || e.Error.Reason != "PROXY_TOKEN_UNAVAILABLE" || h.Get("Retry-After") == "" {
		t.Fatalf("got %d %+v Retry-After=%q", code, e, h.Get("Retry-After"))
	}
	// During the backoff, requests do not reach the token endpoint.
	calls := s.emu.Stats().TokenCalls
	s.get(t, "/v1/me")
	if s.emu.Stats().TokenCalls != calls {
		t.Fatal("token endpoint called during the backoff")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _, _ := s.get(t, "/v1/me"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no recovery after the outage")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := s.emu.Stats(); st.TokenCalls != 4 || st.InvalidGrants != 0 {
		t.Fatalf("token calls %d (want 3 failures + 1 success), invalid_grant %d", st.TokenCalls, st.InvalidGrants)
	}
}

func TestStackBasicAuthOnly(t *testing.T) {
	s := newStack(t, time.Hour, time.Minute)
	s.emu.FailTokenEndpoint(401, 1) // invalid_client: oauth2 auto-detection would retry with body credentials
	s.get(t, "/v1/me")
	st := s.emu.Stats()
	if st.BodyAuthCalls != 0 || st.TokenCalls != 1 {
		t.Fatalf("token calls %d, with credentials in the body %d: want 1 and 0", st.TokenCalls, st.BodyAuthCalls)
	}
}
