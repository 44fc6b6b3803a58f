//go:build linux

package chaos

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

func TestMain(m *testing.M) {
	code := m.Run()
	printTable()
	builds.Remove()
	os.Exit(code)
}

// slowTokenLatency: longer than LOCK_TTL (so the lock must be extended while the call
// runs) and shorter than the proxy's token call timeout (2×LOCK_TTL). CHAOS_SLOW_LATENCY
// overrides it (e.g. 2500ms to see what a token endpoint slower than that does).
var slowTokenLatency = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("CHAOS_SLOW_LATENCY")); err == nil && d > 0 {
		return d
	}
	return 1400 * time.Millisecond
}()

func (e *env) setLatency(d time.Duration) {
	e.t.Helper()
	e.emu.must(e.t, "POST", "token-latency?d="+d.String(), nil)
	e.note("token endpoint latency %s", d)
}

// lockHeld reports whether the account's refresh lock key exists in Redis.
func (e *env) lockHeld(account string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := e.rdb.Exists(ctx, tokenstore.DefaultKeyPrefix+"{"+account+"}:lock").Result()
	return err == nil && n == 1
}

// Scenario 0: rotation throughout, no fault. The baseline every other scenario is
// measured against: no non-200 at all, one refresh per account per expiry window.
func TestChaosRotationBaseline(t *testing.T) {
	e := newEnv(t, "rotation, no fault")
	e.startLoad()
	d := pick(12*time.Second, 60*time.Second)
	e.note("load with refresh-token rotation for %s (%s form)", d, modeName())
	e.run(d)
	e.finish()
	// Each account must have been refreshed about once per (lifetime − REFRESH_AHEAD).
	calls := e.tap.snapshot()
	per := map[string]int{}
	for _, c := range calls {
		if c.ok() {
			per[c.account]++
		}
	}
	want := int(d/(tokenLifetime-refreshAhead+time.Second)) - 1
	for _, a := range e.accounts {
		if per[a] < want {
			t.Errorf("account %s: %d refresh events in %s, want at least %d (tokens must be refreshed ahead, under load)", a, per[a], d, want)
		}
	}
}

// Scenario 1: Redis killed (SIGKILL) while a refresh is in flight, down for a while,
// restarted on the same port with its data (AOF, fsync always).
func TestChaosRedisKilled(t *testing.T) {
	e := newEnv(t, "redis killed + restarted")
	e.allowUnavailable = true
	e.startLoad()
	e.run(pick(2*time.Second, 8*time.Second))
	// A little latency so that the kill lands while a refresh is in flight: the holder
	// then gets a rotated refresh token that Redis cannot take.
	e.setLatency(300 * time.Millisecond)
	down := pick(4*time.Second, 15*time.Second)
	for round := 0; round < pick(1, 2); round++ {
		c := e.waitRefreshInFlight(100*time.Millisecond, 20*time.Second)
		from := time.Now()
		e.redis.Kill()
		e.note("redis killed while replica %d refreshes account %s; down for %s", c.replica, c.account, down)
		e.run(down)
		e.redis.Restart()
		up := time.Now()
		e.addStoreDown(window{from, up.Add(storeRecoveryGrace), "redis killed"})
		e.note("redis restarted on port %d", e.redis.Port())
		e.recover(up, pick(30*time.Second, 60*time.Second), pick(2*time.Second, 8*time.Second))
	}
	e.setLatency(0)
	e.run(pick(time.Second, 5*time.Second))
	e.finish()
}

// Scenario 2: Redis paused (SIGSTOP) for longer than LOCK_TTL while a refresh is in
// flight, then continued (SIGCONT): the holder's lock expires meanwhile.
func TestChaosRedisPaused(t *testing.T) {
	e := newEnv(t, "redis paused > LOCK_TTL")
	e.allowUnavailable = true
	e.startLoad()
	e.run(pick(2*time.Second, 8*time.Second))
	e.setLatency(300 * time.Millisecond)
	pause := pick(3*time.Second, 8*time.Second)
	for round := 0; round < pick(1, 2); round++ {
		c := e.waitRefreshInFlight(100*time.Millisecond, 20*time.Second)
		from := time.Now()
		e.redis.Pause()
		e.note("redis paused (SIGSTOP) while replica %d refreshes account %s; for %s (LOCK_TTL %s)", c.replica, c.account, pause, lockTTL)
		e.run(pause)
		e.redis.Resume()
		up := time.Now()
		e.addStoreDown(window{from, up.Add(storeRecoveryGrace), "redis paused"})
		e.note("redis continued (SIGCONT)")
		e.recover(up, pick(30*time.Second, 60*time.Second), pick(2*time.Second, 8*time.Second))
	}
	e.setLatency(0)
	e.run(pick(time.Second, 5*time.Second))
	e.finish()
}

// Scenario 3: the replica holding an account's refresh lock is killed with SIGKILL
// in the middle of its (slow) token call. The lock expires after LOCK_TTL, another
// replica refreshes with the same refresh token (the emulator rotated nothing: the
// call was cut), and the killed replica is started again.
func TestChaosLockHolderKilled(t *testing.T) {
	e := newEnv(t, "lock holder SIGKILLed")
	e.allowUnavailable = true
	e.startLoad()
	e.run(pick(2*time.Second, 8*time.Second))
	e.setLatency(slowTokenLatency)
	for round := 0; round < pick(1, 3); round++ {
		c := e.waitRefreshInFlight(400*time.Millisecond, 30*time.Second)
		held := e.lockHeld(c.account)
		e.killReplica(c.replica)
		at := time.Now()
		e.note("killed replica %d %s into its refresh of %s (lock key present: %v)", c.replica, time.Since(c.start).Round(time.Millisecond), c.account, held)
		if !held {
			t.Errorf("the refresh lock of %s was not in Redis while replica %d's token call ran", c.account, c.replica)
		}
		e.recover(at, pick(30*time.Second, 60*time.Second), 0)
		e.startReplica(c.replica)
		e.run(pick(2*time.Second, 6*time.Second))
	}
	e.setLatency(0)
	e.run(pick(time.Second, 5*time.Second))
	e.finish()
}

// Scenario 4: the token endpoint answers 503 for a minute (short form: 8 s), then
// answers slowly (latency > LOCK_TTL) for a while, then recovers.
func TestChaosTokenEndpointOutage(t *testing.T) {
	e := newEnv(t, "token endpoint 503 then slow")
	e.allowUnavailable = true
	e.startLoad()
	e.run(pick(2*time.Second, 8*time.Second))
	outage := pick(8*time.Second, 60*time.Second)
	// The window opens before the fault is switched on: a token call answered while
	// the switch is being made may already get a 503.
	from := time.Now()
	e.emu.must(t, "POST", "fail-token?status=503&count=-1", nil)
	if full() {
		e.note("token endpoint answers 503 for %s", outage)
	} else {
		e.note("token endpoint answers 503 for %s (short form: scaled down from the full form's 60s)", outage)
	}
	e.run(outage)
	e.emu.must(t, "POST", "clear-failures", nil)
	to := time.Now()
	e.addTokenFault(window{from, to, "token endpoint 503"})
	e.setLatency(slowTokenLatency)
	e.note("503s cleared; the token endpoint is slow (%s > LOCK_TTL %s)", slowTokenLatency, lockTTL)
	// The backoff is capped at 15 s while callers get errors (RetryMaxExpired), and
	// a call takes slowTokenLatency.
	e.recover(to, 30*time.Second, 0)
	e.note("first refresh of every account after the outage: %s after it ended", firstOKAfter(e, to))
	e.run(pick(8*time.Second, 30*time.Second))
	e.setLatency(0)
	e.run(pick(time.Second, 5*time.Second))
	e.finish()
}

// firstOKAfter returns how long after t the last account got its first successful refresh.
func firstOKAfter(e *env, t time.Time) time.Duration {
	first := map[string]time.Time{}
	for _, c := range e.tap.snapshot() {
		if c.ok() && c.start.After(t) {
			if _, ok := first[c.account]; !ok {
				first[c.account] = c.end
			}
		}
	}
	var worst time.Duration
	for _, a := range e.accounts {
		if f, ok := first[a]; ok && f.Sub(t) > worst {
			worst = f.Sub(t)
		}
	}
	return worst.Round(time.Millisecond)
}

// Scenario 6: replicas restarted during load: SIGTERM (graceful drain), started
// again on the same ports; one of them while its refresh call is in flight.
func TestChaosReplicaRestart(t *testing.T) {
	e := newEnv(t, "replica restarted")
	e.allowUnavailable = true
	e.startLoad()
	e.run(pick(2*time.Second, 8*time.Second))
	for round := 0; round < pick(1, 2); round++ {
		for i := range e.replicas {
			e.stopReplica(i)
			e.startReplica(i)
			e.run(pick(2*time.Second, 6*time.Second))
		}
		e.setLatency(slowTokenLatency)
		c := e.waitRefreshInFlight(300*time.Millisecond, 30*time.Second)
		e.note("stopping replica %d while its refresh of %s is in flight", c.replica, c.account)
		e.stopReplica(c.replica)
		e.startReplica(c.replica)
		e.setLatency(0)
		e.run(pick(2*time.Second, 6*time.Second))
	}
	e.finish()
}

// Scenario 7: the emulator revokes every access token during load: every replica
// gets 401s, refreshes once per account (single flight, lock, "is the 401'd token
// still the stored one?") and retries. No non-200 answer is allowed. Every other
// revocation comes right after a refresh event.
func TestChaosAccessRevoked(t *testing.T) {
	e := newEnv(t, "access tokens revoked")
	e.startLoad()
	e.run(pick(2*time.Second, 8*time.Second))
	for k := 0; k < pick(4, 10); k++ {
		how := "at an arbitrary time"
		if k%2 == 1 {
			// Right after a refresh event: the newest stored token dies with the old
			// ones, so "take the newer stored token" is not enough. A token obtained
			// moments before the revocation cannot be told from one obtained just
			// after it: a replica whose 401 arrives after a peer's refresh began
			// refreshes again rather than retry with a token that may be dead.
			since := time.Now()
			if !waitFor(30*time.Second, func() bool { return e.tap.anyOKSince(since) }) {
				t.Fatal("no refresh event within 30s")
			}
			how = "right after a refresh event"
		}
		e.emu.must(t, "POST", "revoke-access", nil)
		at := time.Now()
		e.mu.Lock()
		e.revocations = append(e.revocations, at)
		e.mu.Unlock()
		e.note("revocation %d (%s): every access token revoked", k+1, how)
		e.recover(at, 30*time.Second, pick(1500*time.Millisecond, 4*time.Second))
	}
	e.finish()
	refreshes := 0
	for _, c := range e.tap.snapshot() {
		if c.ok() {
			refreshes++
		}
	}
	e.note("%d refresh events for %d revocations of %d accounts", refreshes, len(e.revocations), len(e.accounts))
	if s := e.emu.stats(t); s.Unauthorized == 0 {
		t.Errorf("the emulator answered no 401: the revocations did not reach the load")
	}
}
