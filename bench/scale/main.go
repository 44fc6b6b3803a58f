// Command scale simulates many accounts: it stores N accounts (default 100,000) in a
// real redis-server, then sends Zipf-distributed traffic through one proxy replica
// whose in-process cache is bounded (CACHE_SIZE), and reports the memory per account
// in Redis and in the proxy's cache, the token-endpoint call rate, and latency.
//
// Access tokens are stored valid, with expiries spread evenly over the next hour after
// the refresh-ahead window, as in a store that has been running for a while: the
// refresh calls seen during the run, scaled to an hour, are the steady-state rate for
// this traffic.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/bench/internal/procs"
	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyauth"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

func main() {
	n := flag.Int("accounts", 100_000, "accounts in Redis")
	cacheSize := flag.Int("cache-size", 10_000, "CACHE_SIZE of the replica")
	callers := flag.Int("callers", 32, "concurrent callers")
	duration := flag.Duration("duration", 30*time.Second, "traffic duration")
	zipfS := flag.Float64("zipf-s", 1.1, "Zipf exponent (> 1)")
	flag.Parse()
	if err := run(*n, *cacheSize, *callers, *duration, *zipfS); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func randToken(n int) string {
	b := make([]byte, n*3/4)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func run(n, cacheSize, callers int, duration time.Duration, zipfS float64) error {
	dir, _ := os.MkdirTemp("", "scale")
	defer os.RemoveAll(dir)
	rds, err := procs.StartRedis(dir)
	if err != nil {
		return err
	}
	defer rds.Stop()
	addr := rds.Addr
	ctx := context.Background()
	client, err := tokenstore.NewRedisClient(tokenstore.RedisOptions{URL: "redis://" + addr})
	if err != nil {
		return err
	}
	defer client.Close()
	memBefore := usedMemory(client)

	emu := spotifyemu.New(spotifyemu.Options{ClientID: "scale", ClientSecret: "scale-secret", TokenLifetime: time.Hour, RefreshPolicy: spotifyemu.NeverRotate})
	es := httptest.NewServer(emu)
	defer es.Close()
	store := tokenstore.NewRedisStore(client, "scale:", nil)
	const ahead = 5 * time.Minute
	now := time.Now()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				rt := randToken(131)
				emu.AddRefreshToken(rt, "user-read-private user-modify-playback-state")
				// Spotify access tokens are about 200 characters; refresh tokens about 131.
				expiry := now.Add(ahead + time.Duration(mrand.Int64N(int64(time.Hour))))
				rec := tokenstore.Record{
					Account: fmt.Sprintf("user-%06d", i), AccessToken: randToken(200), RefreshToken: rt,
					Expiry: expiry, Scope: "user-read-private user-modify-playback-state",
					ObtainedAt: now, AuthorizedAt: now.Add(-time.Duration(mrand.Int64N(int64(90 * 24 * time.Hour)))),
					RefreshedAt: expiry.Add(-time.Hour), // a 1 h token obtained an hour before its expiry
					Status:      tokenstore.StatusOK,
				}
				if _, err := store.Put(ctx, rec, 0); err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	load := time.Since(start)
	memAfter := usedMemory(client)

	// The accounts' access tokens are the emulator's own now only for new refreshes; the
	// Web API stand-in accepts any bearer token.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			w.WriteHeader(401)
			return
		}
		io.WriteString(w, `{"id":"u"}`)
	}))
	defer api.Close()
	apiURL, _ := url.Parse(api.URL)
	src := tokenstore.NewSource(tokenstore.Config{
		Store: store, Locker: tokenstore.NewRedisLocker(client, "scale:", tokenstore.RedisLockerOptions{TTL: 10 * time.Second}),
		Refresher:    spotifyauth.New(spotifyauth.Config{ClientID: "scale", ClientSecret: "scale-secret", AccountsURL: es.URL}),
		RefreshAhead: ahead, CacheSize: cacheSize, ScanInterval: -1,
	})
	src.Run()
	defer src.Close()
	p, _ := proxy.New(proxy.Config{Upstream: apiURL, Tokens: src})
	ps := httptest.NewServer(p)
	defer ps.Close()

	runtime.GC()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cmdsBefore := redisCommands(client)
	deadline := time.Now().Add(duration)
	lat := make([][]float64, callers)
	bad := make([]int, callers)
	touched := sync.Map{}
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			z := mrand.NewZipf(mrand.New(mrand.NewPCG(uint64(c), 42)), zipfS, 1, uint64(n-1))
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
			for time.Now().Before(deadline) {
				acct := fmt.Sprintf("user-%06d", z.Uint64())
				touched.Store(acct, true)
				req, _ := http.NewRequest("GET", ps.URL+"/v1/me", nil)
				req.Header.Set("X-Spotify-Account", acct)
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					bad[c]++
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					bad[c]++
				}
				lat[c] = append(lat[c], float64(time.Since(t0).Microseconds())/1000)
			}
		}()
	}
	wg.Wait()
	cmdsAfter := redisCommands(client)
	var all []float64
	errors := 0
	for c := range callers {
		all = append(all, lat[c]...)
		errors += bad[c]
	}
	slices.Sort(all)
	distinct := 0
	touched.Range(func(_, _ any) bool { distinct++; return true })
	// Cache memory: the bounded cache is full now; measure it after a GC.
	runtime.GC()
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	cached := src.Cached()
	perEntry := float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc)) / float64(max(cached, 1))
	st := emu.Stats()
	perHour := float64(st.RefreshCalls) / duration.Hours()

	fmt.Printf("| accounts in Redis | %d (stored in %s) |\n", n, load.Round(time.Millisecond))
	fmt.Printf("| Redis memory per account | %.0f bytes (used_memory %s → %s; record, hash overhead and index) |\n",
		float64(memAfter-memBefore)/float64(n), mb(memBefore), mb(memAfter))
	fmt.Printf("| traffic | %d callers, Zipf s=%.2f over %d accounts, %s: %d requests, %d distinct accounts, %d errors |\n",
		callers, zipfS, n, duration, len(all), distinct, errors)
	fmt.Printf("| proxy cache | CACHE_SIZE %d, %d entries held at the end (bounded), ≈ %.0f bytes per cached account (heap growth / entries) |\n",
		cacheSize, cached, perEntry)
	fmt.Printf("| Redis commands during traffic | %d (%.3f per request: cache misses re-read the store) |\n",
		cmdsAfter-cmdsBefore, float64(cmdsAfter-cmdsBefore)/float64(max(len(all), 1)))
	fmt.Printf("| token calls | %d in %s → %.0f per hour at this traffic (1 h tokens, expiries spread over the hour) |\n",
		st.RefreshCalls, duration, perHour)
	fmt.Printf("| latency | p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms |\n", all[len(all)/2], all[len(all)*99/100], all[len(all)*999/1000])
	return nil
}

func usedMemory(c redis.UniversalClient) int64 {
	info, _ := c.Info(context.Background(), "memory").Result()
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

func redisCommands(c redis.UniversalClient) int64 {
	info, _ := c.Info(context.Background(), "stats").Result()
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
