// Command ratestorm measures how the proxy holds Spotify's rate limit for every
// replica: N replicas (in process, each with its own Redis client and gate) share one
// redis-server and the Spotify emulator with its rolling-window limit; C callers
// send GET /v1/me through them and honour Retry-After up to a second, as impatient
// clients do. It prints one table row per run:
//
//   - storm, guard off and on: a limit the load exceeds, with the growing penalty;
//     calls that reach Spotify during a block, the time blocked, 200s and what
//     callers saw;
//   - budget: RATE_LIMIT just under the emulator's limit, callers waiting for slots;
//     the goal is no 429 from Spotify and throughput within 5% of the limit;
//   - retries: 503 on a share of the GETs; callers' errors and upstream calls per
//     request.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/bench/internal/procs"
	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
)

func main() {
	replicas := flag.Int("replicas", 4, "proxy replicas")
	callers := flag.Int("callers", 32, "callers per replica")
	duration := flag.Duration("duration", 90*time.Second, "storm duration (each of guard off and on)")
	budgetDuration := flag.Duration("budget-duration", 60*time.Second, "duration of the budget run")
	retryDuration := flag.Duration("retry-duration", 20*time.Second, "duration of each retry run")
	only := flag.String("only", "", "run only the runs whose name contains this")
	flag.Parse()
	rds, err := procs.StartRedis(os.TempDir()) // no persistence: it writes nothing there
	if err != nil {
		fail(err)
	}
	defer rds.Stop()
	n := *replicas * *callers
	runs := []scenario{
		{name: "storm, guard off", guard: false, duration: *duration, emuLimit: 300, penalty: 100 * time.Millisecond},
		{name: "storm, guard on", guard: true, duration: *duration, emuLimit: 300, penalty: 100 * time.Millisecond},
		{name: "budget 98/10s, Spotify 100/10s", guard: true, duration: *budgetDuration, emuLimit: 100, emuWindow: 10 * time.Second,
			budget: ratelimit.Limit{N: 98, Per: 10 * time.Second}, maxWait: 20 * time.Second},
		{name: "retries, 20% 503 on GETs", guard: true, duration: *retryDuration, faultRatio: 0.2, retries: 2},
		{name: "retries, 5% 503 on GETs", guard: true, duration: *retryDuration, faultRatio: 0.05, retries: 2},
		{name: "no retries, 20% 503 on GETs", guard: true, duration: *retryDuration, faultRatio: 0.2, retries: 0},
	}
	fmt.Println(header)
	for _, sc := range runs {
		if !strings.Contains(sc.name, *only) {
			continue
		}
		sc.replicas, sc.callers, sc.redisAddr, sc.honourRetryAfter = *replicas, n, rds.Addr, time.Second
		r, err := run(context.Background(), sc)
		if err != nil {
			fail(err)
		}
		fmt.Println(r.row())
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ratestorm:", err)
	os.Exit(1)
}
