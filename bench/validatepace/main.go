// Command validatepace measures background validation (VALIDATE_EVERY,
// VALIDATE_RATE) over many accounts: replicas (in process, each a token store Source
// with its own Redis client) share one redis-server and the Spotify emulator; every
// account is stale, so one replica at a time refreshes them at the configured rate.
// It prints the emulator's refresh calls in each second, the validation refreshes
// each replica made (one replica holds the claim at a time) and a summary; it
// fails when a second had more refreshes than the rate allows.
//
//	go run ./bench/validatepace -accounts 10000 -rate 200/s -seconds 30 -replicas 2
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/bench/internal/procs"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyauth"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

func main() {
	accounts := flag.Int("accounts", 10000, "accounts, all due for validation")
	rateFlag := flag.String("rate", "200/s", "VALIDATE_RATE")
	seconds := flag.Int("seconds", 30, "seconds to sample")
	replicas := flag.Int("replicas", 2, "replicas sharing the store")
	flag.Parse()
	rate, err := ratelimit.ParseLimit(*rateFlag)
	if err != nil || rate.N <= 0 {
		fail(fmt.Errorf("-rate: %v", err))
	}
	pace := rate.Per / time.Duration(rate.N)

	rds, err := procs.StartRedis(os.TempDir()) // no persistence: it writes nothing there
	if err != nil {
		fail(err)
	}
	defer rds.Stop()

	emu := spotifyemu.New(spotifyemu.Options{ClientID: "bench-client", ClientSecret: "bench-secret", TokenLifetime: time.Hour})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	emuURL := "http://" + ln.Addr().String()

	ctx := context.Background()
	const prefix = "validatepace:"
	var sources []*tokenstore.Source
	var ms []*metrics.Metrics
	for i := 0; i < *replicas; i++ {
		client := redis.NewClient(&redis.Options{Addr: rds.Addr})
		defer client.Close()
		auth := spotifyauth.New(spotifyauth.Config{ClientID: "bench-client", ClientSecret: "bench-secret", AccountsURL: emuURL, Timeout: 10 * time.Second})
		store := tokenstore.NewRedisStore(client, prefix, nil)
		m := metrics.New(prometheus.NewRegistry())
		ms = append(ms, m)
		src := tokenstore.NewSource(tokenstore.Config{
			Store: store, Metrics: m, Locker: tokenstore.NewRedisLocker(client, prefix, tokenstore.RedisLockerOptions{}),
			Notifier: tokenstore.NewRedisNotifier(client, prefix), Refresher: auth,
			ScanInterval: -1, ValidateEvery: time.Second, ValidatePace: pace,
		})
		sources = append(sources, src)
	}
	// Seed through one replica: refresh tokens obtained a minute ago, so every
	// account is due at once.
	start := time.Now()
	for i := 0; i < *accounts; i++ {
		err := sources[0].Deliver(ctx, fmt.Sprintf("user-%05d", i), tokenstore.Delivery{
			RefreshToken: emu.IssueRefreshToken("user-read-private"), ObtainedAt: time.Now().Add(-time.Minute),
		})
		if err != nil {
			fail(err)
		}
	}
	fmt.Printf("seeded %d accounts in %s; VALIDATE_RATE %s (one refresh every %s), VALIDATE_EVERY 1s, %d replicas\n",
		*accounts, time.Since(start).Round(time.Millisecond), *rateFlag, pace, *replicas)
	for _, s := range sources {
		s.Run()
		defer s.Close()
	}
	prev := emu.Stats().RefreshCalls
	var per []int
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range *seconds {
		<-tick.C
		now := emu.Stats().RefreshCalls
		per = append(per, int(now-prev))
		prev = now
	}
	fmt.Printf("refresh calls per second: %v\n", per)
	var byReplica []int
	for _, m := range ms {
		byReplica = append(byReplica, int(testutil.ToFloat64(m.TokenRefreshes.WithLabelValues(metrics.TriggerValidate, metrics.ResultSuccess))))
	}
	fmt.Printf("validation refreshes by replica: %v\n", byReplica)
	busy := slices.DeleteFunc(slices.Clone(per), func(n int) bool { return n == 0 })
	if len(busy) == 0 {
		fail(fmt.Errorf("no validation refreshes in %d s", *seconds))
	}
	slices.Sort(busy)
	limit := float64(rate.N) * float64(time.Second) / float64(rate.Per)
	fmt.Printf("seconds with refreshes %d of %d; per second min %d, median %d, max %d; limit %.0f/s, jittered target %.0f/s (pace + up to a quarter)\n",
		len(busy), len(per), busy[0], busy[len(busy)/2], busy[len(busy)-1], limit, limit/1.125)
	if float64(busy[len(busy)-1]) > limit+1 {
		fail(fmt.Errorf("a second had %d refreshes, above VALIDATE_RATE %s", busy[len(busy)-1], *rateFlag))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "validatepace:", err)
	os.Exit(1)
}
