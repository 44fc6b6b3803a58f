package tokenstore

import (
	"testing"
	"time"
)

func TestBackoffIsExponentialAndCapped(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	p := newBackoffPolicy(time.Second, time.Minute, 15*time.Second)
	p.jitter = func(d time.Duration) time.Duration { return d } // the top of [d/2, d]
	var b backoff
	for i, want := range []struct{ serving, expired time.Duration }{
		{time.Second, time.Second},
		{2 * time.Second, 2 * time.Second},
		{4 * time.Second, 4 * time.Second},
		{8 * time.Second, 8 * time.Second},
		{16 * time.Second, 15 * time.Second},
		{32 * time.Second, 15 * time.Second},
		{time.Minute, 15 * time.Second},
	} {
		b = p.failed(b, now)
		if b.failures != i+1 || b.until(true).Sub(now) != want.serving || b.until(false).Sub(now) != want.expired {
			t.Fatalf("failure %d: %+v, want %v serving, %v expired", i+1, b, want.serving, want.expired)
		}
	}
	for range 100 { // the exponent stops growing: no overflow
		b = p.failed(b, now)
	}
	if b.until(true).Sub(now) != time.Minute || b.until(false).Sub(now) != 15*time.Second {
		t.Fatalf("after many failures: %+v", b)
	}
}

func TestBackoffJitterAndAccountState(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	p := newBackoffPolicy(time.Second, time.Minute, 15*time.Second)
	var a accountBackoff
	for i := 1; i <= 8; i++ {
		serving := a.fail(p, now, true)
		b := a.get()
		exp := min(time.Second<<(i-1), time.Minute)
		if serving < exp/2 || serving > exp || b.failures != i {
			t.Fatalf("failure %d: wait %v, want within [%v, %v]", i, serving, exp/2, exp)
		}
		if b.notBeforeExpired.After(b.notBefore) {
			t.Fatalf("failure %d: the expired backoff %v is longer than the serving one %v", i, b.notBeforeExpired, b.notBefore)
		}
	}
	a.reset()
	if b := a.get(); b.failures != 0 || !b.until(true).IsZero() || !b.until(false).IsZero() {
		t.Fatalf("after reset: %+v", b)
	}
}
