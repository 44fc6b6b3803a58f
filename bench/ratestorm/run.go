package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// scenario is one run: replicas in process sharing one redis-server, callers
// spread over them, the emulator with its rate-limit model.
type scenario struct {
	name              string
	replicas, callers int
	duration          time.Duration
	emuLimit          int           // calls per emuWindow; 0: no limit
	emuWindow         time.Duration // default 30s
	penalty           time.Duration // growing penalty per call during a block
	guard             bool          // the proxies hold the block (RateLimit gate)
	budget            ratelimit.Limit
	maxWait           time.Duration
	faultRatio        float64 // 503 on this share of GETs
	retries           int
	redisAddr         string
	honourRetryAfter  time.Duration // a caller sleeps min(Retry-After, this) after a 429
}

// result is what callers saw and what reached the emulator.
type result struct {
	scenario
	requests, ok, proxy429, spotify429, errors atomic.Int64
	waited                                     float64
	upstreamCalls                              int64
	rate                                       spotifyemu.RateStats
	elapsed                                    time.Duration
}

func (r *result) row() string {
	return fmt.Sprintf("| %s | %d×%d | %.0fs | %d | %d | %d | %.0f | %d | %d | %d | %d | %.1f |",
		r.name, r.replicas, r.callers/max(r.replicas, 1), r.elapsed.Seconds(), r.requests.Load(), r.ok.Load(), r.errors.Load(),
		r.waited, r.proxy429.Load(), r.spotify429.Load(), r.upstreamCalls, r.rate.DuringBlock, r.rate.BlockedSeconds)
}

const header = "| run | replicas×callers each | time | requests | 200 | other errors | waited | 429 from the proxy | 429 from Spotify | calls reaching Spotify | calls during a block | time blocked (s) |\n|---|---|---|---|---|---|---|---|---|---|---|---|"

func run(ctx context.Context, sc scenario) (*result, error) {
	if sc.emuWindow == 0 {
		sc.emuWindow = spotifyemu.DefaultRateWindow
	}
	emu := spotifyemu.New(spotifyemu.Options{ClientID: "storm", ClientSecret: "storm-secret", RefreshPolicy: spotifyemu.NeverRotate})
	es := httptest.NewServer(emu)
	defer es.Close()
	tok, err := accessToken(es.URL, emu.IssueRefreshToken("user-read-private"))
	if err != nil {
		return nil, err
	}
	emu.SetRateLimit(sc.emuLimit, sc.emuWindow)
	emu.SetRatePenalty(sc.penalty)
	if sc.faultRatio > 0 {
		emu.SetAPIFault(http.StatusServiceUnavailable, sc.faultRatio, http.MethodGet)
	}
	api, _ := url.Parse(es.URL)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := &result{scenario: sc}
	var urls []string
	var ms []*metrics.Metrics
	for range sc.replicas {
		client := redis.NewClient(&redis.Options{Addr: sc.redisAddr})
		defer client.Close()
		m := metrics.New(prometheus.NewRegistry())
		ms = append(ms, m)
		cfg := proxy.Config{Upstream: api, Tokens: staticTokens{tokenstore.NewCredential(tok, time.Now().Add(time.Hour), "")},
			Metrics: m, UpstreamRetries: sc.retries, AllowedHosts: nil}
		if sc.guard {
			blocks := ratelimit.NewRedisBlocks(client, "storm:", nil)
			gc := ratelimit.Config{App: "storm", MaxWait: sc.maxWait, Metrics: m, Sharer: blocks, Prober: blocks}
			if !sc.budget.IsZero() {
				gc.Budget = ratelimit.NewRedisBudget(client, "storm:", "storm", sc.budget, ratelimit.Limit{})
			}
			g := ratelimit.NewGate(gc)
			go g.Follow(rctx)
			cfg.RateLimit = g
		}
		px, err := proxy.New(cfg)
		if err != nil {
			return nil, err
		}
		srv := httptest.NewServer(px)
		defer srv.Close()
		urls = append(urls, srv.URL)
	}
	// Clear what a previous run left in Redis.
	c := redis.NewClient(&redis.Options{Addr: sc.redisAddr})
	_ = c.FlushAll(ctx).Err()
	c.Close()

	tr := &http.Transport{MaxIdleConnsPerHost: sc.callers, MaxIdleConns: sc.callers * 2}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	start := time.Now()
	deadline := start.Add(sc.duration)
	before := emu.Stats().APICalls
	var wg sync.WaitGroup
	for i := range sc.callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := urls[i%len(urls)] + "/v1/me"
			for time.Now().Before(deadline) && rctx.Err() == nil {
				res.requests.Add(1)
				resp, err := hc.Get(target)
				if err != nil {
					res.errors.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == 200:
					res.ok.Add(1)
				case resp.StatusCode == 429:
					if strings.Contains(string(body), `"message":"Spotify's rate limit is in force`) || strings.Contains(string(body), `"message":"the proxy's rate limit`) {
						res.proxy429.Add(1)
					} else {
						res.spotify429.Add(1)
					}
					ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
					pause := min(time.Duration(ra)*time.Second, sc.honourRetryAfter)
					if rest := time.Until(deadline); pause > rest {
						pause = rest
					}
					time.Sleep(pause)
				default:
					res.errors.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.upstreamCalls = emu.Stats().APICalls - before
	res.rate = emu.RateStats()
	for _, m := range ms {
		for _, cause := range metrics.RateLimitCauses {
			res.waited += testutil.ToFloat64(m.RateLimitedRequests(metrics.OutcomeWaited, cause))
		}
	}
	return res, nil
}

type staticTokens struct{ c *tokenstore.Credential }

func (s staticTokens) Token(context.Context, string) (*tokenstore.Credential, error) { return s.c, nil }
func (s staticTokens) Invalidate(context.Context, string, string, time.Time) (*tokenstore.Credential, error) {
	return s.c, nil
}

// accessToken exchanges a refresh token at the emulator.
func accessToken(base, refresh string) (string, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	req, _ := http.NewRequest(http.MethodPost, base+"/api/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("storm", "storm-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("token exchange: %d %v", resp.StatusCode, err)
	}
	return t.AccessToken, nil
}
