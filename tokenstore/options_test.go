package tokenstore

import (
	"testing"
	"time"
)

// TestRefreshPolicy: the operator's REFRESH_AHEAD=0 means "at expiry only", and a
// flight's timeout covers the lock wait, the token call and the writes.
func TestRefreshPolicy(t *testing.T) {
	if got := (Config{RefreshAhead: RefreshAheadSetting(0)}).withDefaults().RefreshAhead; got != 0 {
		t.Fatalf("setting 0: RefreshAhead %v, want no window", got)
	}
	if got := (Config{RefreshAhead: RefreshAheadSetting(2 * time.Minute)}).withDefaults().RefreshAhead; got != 2*time.Minute {
		t.Fatalf("setting 2m: RefreshAhead %v", got)
	}
	if got := (Config{}).withDefaults().RefreshAhead; got != 5*time.Minute {
		t.Fatalf("unset: RefreshAhead %v, want the default 5m", got)
	}
	// The default LOCK_TTL (10s) and the 30s token call: 3×10s + 30s + 10s.
	if got := RefreshTimeoutFor(10*time.Second, 30*time.Second); got != 70*time.Second {
		t.Fatalf("RefreshTimeoutFor = %v, want 70s", got)
	}
	if l := NewRedisLocker(nil, "", RedisLockerOptions{TTL: 2 * time.Second}); l.opts.Wait != LockWaitFor(2*time.Second) || l.opts.Wait != 6*time.Second {
		t.Fatalf("lock wait %v", l.opts.Wait)
	}
}
