//go:build linux

package chaos

import (
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/redistest"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// Settings shared by every scenario (see doc.go).
const (
	clientID       = "chaos-client"
	clientSecret   = "chaos-secret"
	adminToken     = "chaos-admin-token"
	defaultAccount = "default"
	numReplicas    = 3

	tokenLifetime = 8 * time.Second // emulator -token-lifetime
	refreshAhead  = 4 * time.Second // REFRESH_AHEAD
	lockTTL       = time.Second     // LOCK_TTL
	expirySkew    = time.Second     // the proxy hands out no token this close to its expiry

	// UNAUTHORIZED_REFRESH_INTERVAL, scaled down with the token lifetime: within it a
	// 401 for a token obtained because of a 401 passes through by design, and the
	// revocation scenario revokes again 1.5 s after every account recovered.
	unauthorizedFloor = 500 * time.Millisecond

	loadWorkers = 16
	loadThink   = 10 * time.Millisecond
)

var userAccounts = []string{"alice", "bob", "carol"}

var durationFlag = flag.String("chaos.duration", "", "short (default) or full; overrides CHAOS_DURATION")

// full reports whether the long form runs (CHAOS_DURATION=full or -chaos.duration=full).
func full() bool {
	v := *durationFlag
	if v == "" {
		v = os.Getenv("CHAOS_DURATION")
	}
	return strings.EqualFold(v, "full") || strings.EqualFold(v, "long")
}

// pick returns the short or the full value.
func pick[T any](short, long T) T {
	if full() {
		return long
	}
	return short
}

func modeName() string { return pick("short", "full") }

// window is a time span with a reason.
type window struct {
	from, to time.Time
	why      string
}

func (w window) overlaps(from, to time.Time) bool {
	return !to.Before(w.from) && (w.to.IsZero() || !from.After(w.to))
}

// procEvent: a replica was killed (SIGKILL) or stopped (SIGTERM) at a time.
type procEvent struct {
	replica int
	at      time.Time
	how     string
}

// env is one scenario's world: an emulator, the token tap, one redis-server, three
// replicas, four accounts and the load.
type env struct {
	t        *testing.T
	name     string
	dir      string
	emu      *emulator
	tap      *tap
	redis    *redistest.Server
	rdb      *redis.Client
	replicas []*replica
	accounts []string

	inRotation []atomic.Bool
	load       *load
	began      time.Time

	// allowUnavailable: PROXY_TOKEN_UNAVAILABLE is tolerated where no valid token can
	// exist (see allowed). Scenarios without an outage leave it false: no non-200 at all.
	allowUnavailable bool

	mu          sync.Mutex
	storeDown   []window    // Redis killed or paused (plus the recovery grace)
	tokenFaults []window    // the token endpoint failing or slow
	procEvents  []procEvent // replicas killed or stopped
	revocations []time.Time // revoke-access
	notes       []string
}

// storeRecoveryGrace: after Redis answers again, a replica may take this long to
// reconnect and retry before it must serve again (a failed read answers 503 at once;
// the next one is allowed to wait for the backoff's first step).
const storeRecoveryGrace = 2 * time.Second

func newEnv(t *testing.T, name string) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("chaos: starts redis-server, the emulator and three proxies")
	}
	binaries(t)
	dir, err := os.MkdirTemp("", "stp-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, name: name, dir: dir}
	// Registered first, so it runs last: the logs of a failed scenario are kept.
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("CHAOS_KEEP") != "" {
			t.Logf("logs kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	e.emu = startEmulator(t, e.dir)
	e.tap = newTap(e.emu.url)
	tapSrv := httptest.NewServer(e.tap) // 127.0.0.1
	t.Cleanup(tapSrv.Close)
	e.redis = redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
	e.rdb = redis.NewClient(&redis.Options{Addr: e.redis.Addr(), DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, MaxRetries: -1})
	t.Cleanup(func() { e.rdb.Close() })

	seed := e.emu.issueRefreshToken(t)
	e.tap.register(defaultAccount, seed)
	for i := 0; i < numReplicas; i++ {
		r := newReplica(t, i, e.dir, []string{
			"SPOTIFY_CLIENT_ID=" + clientID, "SPOTIFY_CLIENT_SECRET=" + clientSecret,
			"SPOTIFY_REFRESH_TOKEN=" + seed,
			"SPOTIFY_API_URL=" + e.emu.url, "SPOTIFY_ACCOUNTS_URL=" + fmt.Sprintf("%s/r%d", tapSrv.URL, i),
			"ADMIN_TOKEN=" + adminToken, "REDIS_URL=redis://" + e.redis.Addr(),
			"REFRESH_AHEAD=" + refreshAhead.String(), "LOCK_TTL=" + lockTTL.String(),
			"UNAUTHORIZED_REFRESH_INTERVAL=" + unauthorizedFloor.String(),
			"SHUTDOWN_TIMEOUT=10s", "LOG_FORMAT=text", "LOG_LEVEL=info",
		})
		e.replicas = append(e.replicas, r)
	}
	for _, r := range e.replicas {
		r.start(t)
	}
	e.accounts = []string{defaultAccount}
	for _, a := range userAccounts {
		rt := e.emu.issueRefreshToken(t)
		e.tap.register(a, rt)
		e.replicas[0].deliver(t, a, rt)
		e.accounts = append(e.accounts, a)
	}
	e.inRotation = make([]atomic.Bool, numReplicas)
	for i := range e.inRotation {
		e.inRotation[i].Store(true)
	}
	t.Cleanup(func() {
		if e.load != nil && e.load.cancel != nil {
			e.load.cancel()
		}
		if t.Failed() {
			for _, r := range e.replicas {
				t.Logf("replica %d warnings and errors:\n%s", r.idx, strings.Join(notable(r.log, 60), "\n"))
			}
		}
	})
	return e
}

func (e *env) note(format string, args ...any) {
	msg := fmt.Sprintf("%6.2fs  ", time.Since(e.began).Seconds()) + fmt.Sprintf(format, args...)
	e.mu.Lock()
	e.notes = append(e.notes, msg)
	e.mu.Unlock()
	e.t.Log(msg)
}

// startLoad starts the load and waits until every replica has served every account.
func (e *env) startLoad() {
	e.t.Helper()
	e.began = time.Now()
	e.load = newLoad(e, loadWorkers, loadThink)
	e.load.run()
	zero := make([]int64, len(e.load.okByPair))
	if !waitFor(30*time.Second, func() bool { return e.load.okEverywhereSince(zero) }) {
		e.t.Fatalf("warm-up: not every replica served every account within 30s; failures so far: %v", summarize(e.load.failureList()))
	}
	e.note("warm: every replica serves every account")
}

// run lets the load run for d.
func (e *env) run(d time.Duration) { time.Sleep(d) }

// recover waits (up to limit) until, after from, every account has been refreshed
// successfully and every replica in rotation has served every account, then lets
// the load run for extra more.
func (e *env) recover(from time.Time, limit, extra time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(limit)
	if !waitFor(limit, func() bool { return e.tap.okSince(from, e.accounts) }) {
		e.t.Errorf("not every account was refreshed successfully within %s after %.3fs", limit, from.Sub(e.began).Seconds())
		e.note("NOT recovered: not every account refreshed within %s", limit)
		return
	}
	snap := e.load.okSnapshot()
	if !waitFor(time.Until(deadline), func() bool { return e.load.okEverywhereSince(snap) }) {
		e.t.Errorf("not every replica served every account within %s after %.3fs", limit, from.Sub(e.began).Seconds())
		e.note("NOT recovered: not every replica serves every account")
		return
	}
	e.note("recovered: every account refreshed and served by every replica")
	time.Sleep(extra)
}

// waitRefreshInFlight waits until some replica's refresh call has been in flight
// for at least age, and returns it.
func (e *env) waitRefreshInFlight(age, limit time.Duration) tokenCall {
	e.t.Helper()
	var c tokenCall
	if !waitFor(limit, func() bool {
		var ok bool
		c, ok = e.tap.inFlight(age)
		return ok
	}) {
		e.t.Fatalf("no refresh call in flight within %s", limit)
	}
	return c
}

func (e *env) addStoreDown(w window) {
	e.mu.Lock()
	e.storeDown = append(e.storeDown, w)
	e.mu.Unlock()
}
func (e *env) addTokenFault(w window) {
	e.mu.Lock()
	e.tokenFaults = append(e.tokenFaults, w)
	e.mu.Unlock()
}
func (e *env) addProcEvent(p procEvent) {
	e.mu.Lock()
	e.procEvents = append(e.procEvents, p)
	e.mu.Unlock()
}

// killReplica takes replica i out of the rotation and kills it with SIGKILL.
func (e *env) killReplica(i int) {
	e.inRotation[i].Store(false)
	at := time.Now()
	e.replicas[i].sigkill()
	e.addProcEvent(procEvent{replica: i, at: at, how: "SIGKILL"})
	e.note("replica %d killed (SIGKILL)", i)
}

// stopReplica takes replica i out of the rotation (as a load balancer does once
// readiness fails) and stops it with SIGTERM; it must exit with status 0.
func (e *env) stopReplica(i int) {
	e.t.Helper()
	e.inRotation[i].Store(false)
	at := time.Now()
	err := e.replicas[i].sigterm(e.t, 30*time.Second)
	e.addProcEvent(procEvent{replica: i, at: at, how: "SIGTERM"})
	if err != nil {
		e.t.Errorf("replica %d after SIGTERM: %v", i, err)
	}
	e.note("replica %d stopped (SIGTERM, drained, exit %v)", i, err)
}

// startReplica starts replica i again on its ports and puts it back in rotation.
func (e *env) startReplica(i int) {
	e.t.Helper()
	e.replicas[i].start(e.t)
	e.inRotation[i].Store(true)
	e.note("replica %d started again and ready", i)
}

// liveReplica returns a replica in rotation.
func (e *env) liveReplica() *replica {
	for i, r := range e.replicas {
		if e.inRotation[i].Load() {
			return r
		}
	}
	e.t.Fatal("no replica in rotation")
	return nil
}

// storedRecord reads the account's record from Redis, as the replicas stored it.
func (e *env) storedRecord(account string) (tokenstore.Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	key := tokenstore.DefaultKeyPrefix + "{" + account + "}:token"
	vals, err := e.rdb.HMGet(ctx, key, "v", "r").Result()
	if err != nil {
		return tokenstore.Record{}, err
	}
	data, ok := vals[1].(string)
	if !ok {
		return tokenstore.Record{}, fmt.Errorf("no record under %s", key)
	}
	var codec tokenstore.Codec // plain: no TOKEN_ENCRYPTION_KEY in chaos runs
	return codec.Decode(account, []byte(data))
}

func summarize(fs []request) string {
	by := map[string]int{}
	for _, f := range fs {
		by[fmt.Sprintf("%d %s", f.status, f.reason)]++
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s×%d ", k, by[k])
	}
	return strings.TrimSpace(b.String())
}
