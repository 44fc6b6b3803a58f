package tokenstore

import (
	"testing"
	"time"
)

// TestTrustRule is the 401 rule's table: which token may answer a caller, for every
// case the chaos suite found. A token refreshed before the 401 arrived, for any
// reason but a 401, may have died in the same revocation.
func TestTrustRule(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) // when Spotify's 401 arrived
	rej := rejection{token: "bad", at: at}
	before, after := at.Add(-time.Millisecond), at.Add(time.Millisecond)

	// Where the offered token comes from.
	type source uint8
	const (
		cached             source = iota // the Source's cache (Invalidate's fast path)
		stored                           // the store, read before or after the lock (instead of a refresh)
		peerFlight                       // a flight another caller started, which this caller joined
		ownFlight                        // the flight this caller started (it applied the rule)
		lastResortFallback               // no refresh can be had: the stored or previous token
	)
	decide := func(r rejection, tok string, p provenance, s source) bool {
		switch s {
		case peerFlight:
			return r.takesFlight(tok, p, false)
		case ownFlight:
			return r.takesFlight(tok, p, true)
		case lastResortFallback:
			return r.mayAnswer(tok, p, lastResort)
		default:
			return r.mayAnswer(tok, p, instead)
		}
	}
	cases := []struct {
		name string
		rej  rejection
		tok  string
		prov provenance
		// want, by source: cached, stored, peer flight, own flight, last resort
		want [5]bool
	}{
		{"no 401: any valid token", rejection{}, "t1", provenance{before, CauseAhead}, [5]bool{true, true, true, true, true}},
		{"no 401: a delivered token", rejection{}, "t1", provenance{}, [5]bool{true, true, true, true, true}},
		{"the rejected token itself", rej, "bad", provenance{after, CauseUnauthorized}, [5]bool{false, false, false, true, false}},
		{"refreshed ahead after the 401 arrived", rej, "t2", provenance{after, CauseAhead}, [5]bool{true, true, true, true, true}},
		{"refreshed at expiry after the 401 arrived", rej, "t2", provenance{after, CauseExpired}, [5]bool{true, true, true, true, true}},
		{"refreshed ahead before the 401 arrived (a peer's, while our request was in flight)", rej, "t2", provenance{before, CauseAhead}, [5]bool{false, false, false, true, true}},
		{"refreshed at expiry before the 401 arrived", rej, "t2", provenance{before, CauseExpired}, [5]bool{false, false, false, true, true}},
		{"refreshed for the admin API before the 401 arrived", rej, "t2", provenance{before, CauseAdmin}, [5]bool{false, false, false, true, true}},
		{"refreshed the instant the 401 arrived", rej, "t2", provenance{at, CauseAhead}, [5]bool{false, false, false, true, true}},
		{"a peer's 401 refresh, begun before ours arrived", rej, "t2", provenance{before, CauseUnauthorized}, [5]bool{true, true, true, true, true}},
		{"a peer's 401 refresh, begun after ours arrived", rej, "t2", provenance{after, CauseUnauthorized}, [5]bool{true, true, true, true, true}},
		{"a delivered token (no refresh time)", rej, "t2", provenance{}, [5]bool{false, false, false, true, true}},
	}
	names := [5]string{"cached", "stored", "peer flight", "own flight", "last resort"}
	for _, tc := range cases {
		for s, want := range tc.want {
			if got := decide(tc.rej, tc.tok, tc.prov, source(s)); got != want {
				t.Errorf("%s, from the %s: trusted = %v, want %v", tc.name, names[s], got, want)
			}
		}
	}
}

// TestUnauthorizedFloor is the table of the 401 floor: a 401 for a token obtained
// because of a 401 less than the floor ago causes no refresh.
func TestUnauthorizedFloor(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	rej := rejection{token: "bad", at: now}
	rec := func(tok string, refreshedAt time.Time, c Cause) Record {
		return Record{AccessToken: tok, RefreshedAt: refreshedAt, Cause: c, Status: StatusOK}
	}
	cases := []struct {
		name string
		f    floor
		rec  Record
		rej  rejection
		want bool
	}{
		{"within the floor", floor(5 * time.Second), rec("bad", now.Add(-time.Second), CauseUnauthorized), rej, true},
		{"no floor", 0, rec("bad", now.Add(-time.Second), CauseUnauthorized), rej, false},
		{"the floor has passed", floor(5 * time.Second), rec("bad", now.Add(-5*time.Second), CauseUnauthorized), rej, false},
		{"obtained for another reason", floor(5 * time.Second), rec("bad", now.Add(-time.Second), CauseAhead), rej, false},
		{"a delivered token", floor(5 * time.Second), rec("bad", time.Time{}, CauseUnauthorized), rej, false},
		{"the store holds another token", floor(5 * time.Second), rec("other", now.Add(-time.Second), CauseUnauthorized), rej, false},
		{"no 401", floor(5 * time.Second), rec("bad", now.Add(-time.Second), CauseUnauthorized), rejection{}, false},
	}
	for _, tc := range cases {
		if got := tc.f.holds(tc.rec, tc.rej, now); got != tc.want {
			t.Errorf("%s: holds = %v, want %v", tc.name, got, tc.want)
		}
	}
}
