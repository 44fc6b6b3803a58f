package tokenstore

import (
	"testing"
	"time"
)

func TestFreshnessWindows(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f := freshness{ahead: 5 * time.Minute}
	hour := Record{AccessToken: "a", Status: StatusOK, RefreshedAt: now, Expiry: now.Add(time.Hour)}
	if w := f.window(hour); w != 5*time.Minute {
		t.Fatalf("window of an hour's token = %v", w)
	}
	short := hour
	short.Expiry = now.Add(4 * time.Minute) // shorter-lived than the window: half its lifetime
	if w := f.window(short); w != 2*time.Minute {
		t.Fatalf("window of a 4m token = %v, want 2m", w)
	}
	delivered := hour
	delivered.RefreshedAt = time.Time{} // lifetime unknown: the whole window
	delivered.Expiry = now.Add(4 * time.Minute)
	if w := f.window(delivered); w != 5*time.Minute {
		t.Fatalf("window of a delivered token = %v", w)
	}
	for _, tc := range []struct {
		name         string
		rec          Record
		at           time.Time
		fresh, valid bool
	}{
		{"new", hour, now, true, true},
		{"in the ahead window", hour, now.Add(56 * time.Minute), false, true},
		{"just before the skew", hour, now.Add(time.Hour - expirySkew - time.Nanosecond), false, true},
		{"within the skew", hour, now.Add(time.Hour - expirySkew), false, false},
		{"reauth_required", Record{AccessToken: "a", Status: StatusReauthRequired, Expiry: now.Add(time.Hour)}, now, false, false},
		{"no access token", Record{Status: StatusOK, Expiry: now.Add(time.Hour)}, now, false, false},
		{"no window: fresh up to the skew", Record{AccessToken: "a", Status: StatusOK, Expiry: now.Add(time.Hour)}, now.Add(time.Hour - expirySkew - time.Nanosecond), true, true},
	} {
		ff := f
		if tc.name == "no window: fresh up to the skew" {
			ff = freshness{}
		}
		if got := ff.fresh(tc.rec, tc.at); got != tc.fresh {
			t.Errorf("%s: fresh = %v", tc.name, got)
		}
		if got := ff.valid(tc.rec, tc.at); got != tc.valid {
			t.Errorf("%s: valid = %v", tc.name, got)
		}
	}
}
