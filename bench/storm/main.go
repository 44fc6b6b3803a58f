// Command storm measures refresh storms: N replicas (in process, each with its own
// Redis client, store, lock, notifier, token source and proxy) share one real
// redis-server and the Spotify emulator, which rotates refresh tokens and revokes the
// old ones; C callers send requests through random replicas across several token
// expiries. It reports token-endpoint calls per refresh event (target 1.00) and the
// latency of requests that arrive while a refresh is in flight against the others.
//
// A refresh event is a new access token that the Web API then saw in use; token calls
// are the emulator's refresh_token grants. A duplicate refresh shows as calls > events
// (and, with rotation, as invalid_grant).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/spotify-token-proxy/spotify-token-proxy/bench/internal/procs"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyauth"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

func main() {
	replicas := flag.Int("replicas", 8, "proxy replicas")
	callers := flag.Int("callers", 64, "concurrent callers")
	accounts := flag.Int("accounts", 4, "accounts")
	duration := flag.Duration("duration", 30*time.Second, "load duration")
	lifetime := flag.Duration("token-lifetime", 8*time.Second, "access token lifetime")
	latency := flag.Duration("token-latency", 300*time.Millisecond, "token endpoint latency")
	lockTTL := flag.Duration("lock-ttl", time.Second, "LOCK_TTL")
	showMetrics := flag.Bool("metrics", true, "print replica 0's refresh metrics after each run")
	flag.Parse()
	fmt.Println("| mode | replicas×callers | requests | non-200 | token calls | refresh events | calls per event | invalid_grant | p99 during a refresh | p99 otherwise |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	var pages []string
	for _, ahead := range []time.Duration{3 * time.Second, -1} {
		r, page, err := run(*replicas, *callers, *accounts, *duration, *lifetime, *latency, *lockTTL, ahead)
		if err != nil {
			fmt.Fprintln(os.Stderr, "storm:", err)
			os.Exit(1)
		}
		fmt.Println(r)
		if *showMetrics {
			pages = append(pages, page)
		}
	}
	for _, p := range pages {
		fmt.Print(p)
	}
}

// recorder wraps the emulator: it notes the token-endpoint windows and the access
// tokens the Web API saw.
type recorder struct {
	emu      *spotifyemu.Emulator
	mu       sync.Mutex
	windows  [][2]time.Time
	seen     map[string]bool
	inflight atomic.Int64
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/api/token" {
		start := time.Now()
		r.inflight.Add(1)
		r.emu.ServeHTTP(w, req)
		r.inflight.Add(-1)
		r.mu.Lock()
		r.windows = append(r.windows, [2]time.Time{start, time.Now()})
		r.mu.Unlock()
		return
	}
	if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok && r.emu.AccessTokenValid(tok) {
		r.mu.Lock()
		r.seen[tok] = true
		r.mu.Unlock()
	}
	r.emu.ServeHTTP(w, req)
}

func run(nRep, nCallers, nAcc int, duration, lifetime, latency, lockTTL, ahead time.Duration) (string, string, error) {
	dir, err := os.MkdirTemp("", "storm")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(dir)
	rds, err := procs.StartRedis(dir)
	if err != nil {
		return "", "", err
	}
	defer rds.Stop()
	addr := rds.Addr

	emu := spotifyemu.New(spotifyemu.Options{ClientID: "storm", ClientSecret: "storm-secret", TokenLifetime: lifetime, RefreshPolicy: spotifyemu.RotateRevokeOld})
	emu.SetTokenLatency(latency)
	rec := &recorder{emu: emu, seen: map[string]bool{}}
	es := httptest.NewServer(rec)
	defer es.Close()
	api, _ := url.Parse(es.URL)

	var urls []string
	reg0 := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for i := range nRep {
		client, err := tokenstore.NewRedisClient(tokenstore.RedisOptions{URL: "redis://" + addr})
		if err != nil {
			return "", "", err
		}
		reg := prometheus.NewRegistry()
		if i == 0 {
			reg = reg0
		}
		m := metrics.New(reg)
		src := tokenstore.NewSource(tokenstore.Config{
			Metrics:      m,
			Store:        tokenstore.NewRedisStore(client, "storm:", nil),
			Locker:       tokenstore.NewRedisLocker(client, "storm:", tokenstore.RedisLockerOptions{TTL: lockTTL}),
			Notifier:     tokenstore.NewRedisNotifier(client, "storm:"),
			Refresher:    spotifyauth.New(spotifyauth.Config{ClientID: "storm", ClientSecret: "storm-secret", AccountsURL: es.URL}),
			RefreshAhead: ahead, ScanInterval: -1, RefreshTimeout: 30 * time.Second,
		})
		src.Run()
		if i == 0 {
			for a := range nAcc {
				if _, err := src.Seed(ctx, fmt.Sprintf("acct-%d", a), emu.IssueRefreshToken("user-read-private")); err != nil {
					return "", "", err
				}
			}
		}
		p, err := proxy.New(proxy.Config{Upstream: api, Tokens: src, Metrics: m, Transport: proxy.NewTransport(30 * time.Second)})
		if err != nil {
			return "", "", err
		}
		srv := httptest.NewServer(p)
		urls = append(urls, srv.URL)
		closers = append(closers, func() { srv.Close(); src.Close(); client.Close() })
	}

	type result struct {
		start   time.Time
		latency time.Duration
		status  int
	}
	results := make([][]result, nCallers)
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for c := range nCallers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 30 * time.Second}
			for i := 0; time.Now().Before(deadline); i++ {
				req, _ := http.NewRequest("GET", urls[(c+i)%len(urls)]+"/v1/me", nil)
				req.Header.Set("X-Spotify-Account", fmt.Sprintf("acct-%d", (c+i)%nAcc))
				t0 := time.Now()
				resp, err := hc.Do(req)
				status := 0
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				results[c] = append(results[c], result{t0, time.Since(t0), status})
			}
		}()
	}
	wg.Wait()

	st := emu.Stats()
	rec.mu.Lock()
	windows := slices.Clone(rec.windows)
	events := len(rec.seen)
	rec.mu.Unlock()
	var during, steady []float64
	total, non200 := 0, 0
	for _, rs := range results {
		for _, r := range rs {
			total++
			if r.status != 200 {
				non200++
			}
			in := false
			for _, w := range windows {
				if !r.start.Before(w[0]) && r.start.Before(w[1]) {
					in = true
					break
				}
			}
			ms := float64(r.latency.Microseconds()) / 1000
			if in {
				during = append(during, ms)
			} else {
				steady = append(steady, ms)
			}
		}
	}
	// Events: user access tokens seen in use, minus none: the seeds carry no access
	// token, so every token seen came from a refresh call.
	perEvent := 0.0
	if events > 0 {
		perEvent = float64(st.RefreshCalls) / float64(events)
	}
	mode := fmt.Sprintf("REFRESH_AHEAD=%s", ahead)
	if ahead < 0 {
		mode = "REFRESH_AHEAD=0 (refresh at expiry)"
	}
	return fmt.Sprintf("| %s | %d×%d | %d | %d | %d | %d | **%.2f** | %d | %s | %s |",
		mode, nRep, nCallers, total, non200, st.RefreshCalls, events, perEvent, st.InvalidGrants,
		pct(during, 99), pct(steady, 99)), metricsPage(reg0, mode), nil
}

// metricsPage is what an operator scraping replica 0 saw: the refresh-related series
// that moved.
func metricsPage(reg *prometheus.Registry, mode string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n/metrics of replica 0 (%s):\n", mode)
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.Contains(name, "refresh") && !strings.Contains(name, "lock_wait") && name != "spotify_proxy_requests_total" {
			continue
		}
		var buf bytes.Buffer
		expfmt.MetricFamilyToText(&buf, mf)
		for _, line := range strings.Split(buf.String(), "\n") {
			if line == "" || strings.HasPrefix(line, "#") || strings.HasSuffix(line, " 0") || strings.Contains(line, "_bucket") {
				continue
			}
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func pct(xs []float64, p int) string {
	if len(xs) == 0 {
		return "– (0 requests)"
	}
	slices.Sort(xs)
	return fmt.Sprintf("%.1f ms (%d req)", xs[len(xs)*p/100], len(xs))
}
