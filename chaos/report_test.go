//go:build linux

package chaos

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// row is one scenario's line of the table.
type row struct {
	scenario    string
	mode        string
	secs        float64
	requests    int64
	non200      int
	allowed     int
	violations  int
	byReason    string
	tokenCalls  int64 // emulator refresh_calls
	callsOK     int
	callsFailed int
	callsNoAns  int
	refreshes   int // refresh events: successful refresh answers
	duplicates  int
	invalid     int64
	reauth      int
	rtLost      int
	upstream401 int64
	pass        bool
}

var table struct {
	mu   sync.Mutex
	rows []row
}

const tableHeader = "| scenario | mode | secs | requests | non-200 | allowed | violations | non-200 by reason | token calls (ok/failed/no answer) | refresh events | duplicates | invalid_grant | reauth_required | refresh tokens lost | upstream 401 | result |\n" +
	"|---|---|--:|--:|--:|--:|--:|---|---|--:|--:|--:|--:|--:|--:|---|"

func (r row) String() string {
	res := "PASS"
	if !r.pass {
		res = "FAIL"
	}
	reasons := r.byReason
	if reasons == "" {
		reasons = "-"
	}
	return fmt.Sprintf("| %s | %s | %.0f | %d | %d | %d | %d | %s | %d (%d/%d/%d) | %d | %d | %d | %d | %d | %d | %s |",
		r.scenario, r.mode, r.secs, r.requests, r.non200, r.allowed, r.violations, reasons,
		r.tokenCalls, r.callsOK, r.callsFailed, r.callsNoAns, r.refreshes, r.duplicates, r.invalid, r.reauth, r.rtLost, r.upstream401, res)
}

func addRow(r row) {
	table.mu.Lock()
	defer table.mu.Unlock()
	if len(table.rows) == 0 {
		fmt.Fprintln(os.Stdout, tableHeader)
	}
	table.rows = append(table.rows, r)
	fmt.Fprintln(os.Stdout, r.String())
}

func printTable() {
	table.mu.Lock()
	defer table.mu.Unlock()
	if len(table.rows) == 0 {
		return
	}
	fmt.Fprintf(os.Stdout, "\nchaos summary (%s form; token lifetime %s, REFRESH_AHEAD %s, LOCK_TTL %s, %d replicas, %d accounts, %d load workers):\n",
		modeName(), tokenLifetime, refreshAhead, lockTTL, numReplicas, 1+len(userAccounts), loadWorkers)
	fmt.Fprintln(os.Stdout, tableHeader)
	for _, r := range table.rows {
		fmt.Fprintln(os.Stdout, r.String())
	}
}

// storeDelay: a token counts as existing this long after the tap passed it on: the
// time for the replica that got it to store it in Redis, where peers can read it.
const storeDelay = 100 * time.Millisecond

// interval is a span during which some valid access token of an account existed.
type interval struct{ from, to time.Time }

// validity returns, per account, the merged spans during which a token the emulator
// issued for it was valid and could be handed out: from the answer to its expiry
// less the proxy's skew, cut short by revocations.
func validity(calls []tokenCall, revocations []time.Time) map[string][]interval {
	per := map[string][]interval{}
	for _, c := range calls {
		if !c.ok() || c.account == "" {
			continue
		}
		iv := interval{c.end.Add(storeDelay), c.end.Add(c.expiresIn - expirySkew)}
		for _, r := range revocations {
			if r.After(iv.from) && r.Before(iv.to) {
				iv.to = r
			}
		}
		if iv.to.After(iv.from) {
			per[c.account] = append(per[c.account], iv)
		}
	}
	for a, ivs := range per {
		sort.Slice(ivs, func(i, j int) bool { return ivs[i].from.Before(ivs[j].from) })
		var merged []interval
		for _, iv := range ivs {
			if n := len(merged); n > 0 && !iv.from.After(merged[n-1].to) {
				if iv.to.After(merged[n-1].to) {
					merged[n-1].to = iv.to
				}
				continue
			}
			merged = append(merged, iv)
		}
		per[a] = merged
	}
	return per
}

// covered reports whether [from, to] lies wholly inside one span: a valid token
// existed for the whole time of the request.
func covered(ivs []interval, from, to time.Time) bool {
	for _, iv := range ivs {
		if !from.Before(iv.from) && !to.After(iv.to) {
			return true
		}
	}
	return false
}

// duplicateTolerance: a refresh may start this much before the previous token
// entered its refresh-ahead window (timestamps are taken in this process).
const duplicateTolerance = 200 * time.Millisecond

// revocationEcho: how far from a revocation a second refresh is still its effect. A
// replica whose 401 arrives after a peer's refresh call began cannot tell whether
// Spotify issued the peer's token before the revocation (dead) or after it, so it
// refreshes again; 401s arrive up to a request's latency after the revocation, and
// revocation times are taken when the emulator's control call returned.
const revocationEcho = time.Second

// finish stops the load, waits for the token calls to settle, checks everything and
// adds the scenario's row to the table.
func (e *env) finish() {
	t := e.t
	t.Helper()
	e.load.stop()
	elapsed := time.Since(e.began)
	// Flights started just before the load stopped may still reach the token endpoint
	// (after a lock wait of up to 2×LOCK_TTL): wait for quiet.
	if !waitFor(30*time.Second, func() bool { return e.tap.quietFor(2*lockTTL + time.Second) }) {
		t.Errorf("token calls went on for 30s after the load stopped")
	}
	calls := e.tap.snapshot()
	stats := e.emu.stats(t)
	fails := e.load.failureList()

	e.mu.Lock()
	storeDown := append([]window(nil), e.storeDown...)
	tokenFaults := append([]window(nil), e.tokenFaults...)
	procEvents := append([]procEvent(nil), e.procEvents...)
	revocations := append([]time.Time(nil), e.revocations...)
	e.mu.Unlock()

	r := row{scenario: e.name, mode: modeName(), secs: elapsed.Seconds(), requests: e.load.total.Load(), non200: len(fails),
		tokenCalls: stats.RefreshCalls, invalid: stats.InvalidGrants, upstream401: stats.Unauthorized}

	// Non-200 answers: each must be explained by a window in which it is allowed.
	valid := validity(calls, revocations)
	reasons := map[string]int{}
	var violations []string
	reqViolations := 0
	type group struct {
		n           int
		first, last time.Time
	}
	groups := map[string]*group{}
	var order []string
	for _, f := range fails {
		reasons[f.reason]++
		acct := e.accounts[f.account]
		why := ""
		switch {
		case strings.HasPrefix(f.reason, "transport:"):
			for _, p := range procEvents {
				if p.replica == f.replica && p.how == "SIGKILL" && !p.at.Before(f.start) && !p.at.After(f.end.Add(100*time.Millisecond)) {
					why = "in flight at a SIGKILL of its replica"
				}
				// The load picks a replica, then dials it: a pick made just before the
				// replica left the rotation for a graceful stop may dial a closed
				// listener (as a Kubernetes endpoint update races a pod's shutdown).
				if p.replica == f.replica && p.how == "SIGTERM" && f.reason == "transport:refused" &&
					f.start.After(p.at.Add(-50*time.Millisecond)) && f.start.Before(p.at.Add(50*time.Millisecond)) {
					why = "dialled as its replica left the rotation for a graceful stop"
				}
			}
		case f.status == 503 && f.reason == "PROXY_TOKEN_UNAVAILABLE" && e.allowUnavailable:
			for _, w := range storeDown {
				if w.overlaps(f.start, f.end) {
					why = "store down: " + w.why
				}
			}
			if why == "" && !covered(valid[acct], f.start, f.end) {
				why = "no valid token existed"
			}
		}
		if why != "" {
			r.allowed++
			continue
		}
		r.violations++
		reqViolations++
		k := fmt.Sprintf("replica %d account %s: %d %s (%s)", f.replica, acct, f.status, f.reason, f.detail)
		g, ok := groups[k]
		if !ok {
			g = &group{first: f.start, last: f.end}
			groups[k] = g
			order = append(order, k)
		}
		g.n++
		g.first, g.last = minTime(g.first, f.start), maxTime(g.last, f.end)
	}
	for _, k := range order {
		g := groups[k]
		violations = append(violations, fmt.Sprintf("%s ×%d between %.3fs and %.3fs", k, g.n, g.first.Sub(e.began).Seconds(), g.last.Sub(e.began).Seconds()))
	}
	var rk []string
	for k := range reasons {
		rk = append(rk, k)
	}
	sort.Strings(rk)
	for i, k := range rk {
		if i > 0 {
			r.byReason += ", "
		}
		r.byReason += fmt.Sprintf("%s %d", k, reasons[k])
	}

	// Token calls: every one passes the tap; failures need a fault to explain them.
	var tapRefreshCalls int64
	var unexplained []string
	perAccount := map[string][]tokenCall{}
	for _, c := range calls {
		if c.grant == "refresh_token" {
			tapRefreshCalls++
		}
		switch {
		case c.ok():
			r.callsOK++
			if c.rotatedTo == "" {
				r.violations++
				t.Errorf("a successful refresh at %.3fs did not rotate the refresh token: every scenario runs with rotation", c.start.Sub(e.began).Seconds())
			}
			perAccount[c.account] = append(perAccount[c.account], c)
			continue
		case c.status == 0:
			r.callsNoAns++
		default:
			r.callsFailed++
		}
		explained := false
		for _, w := range tokenFaults {
			if w.overlaps(c.start, c.end) {
				explained = true
			}
		}
		for _, p := range procEvents {
			if p.replica == c.replica && !p.at.Before(c.start) && (c.end.IsZero() || !p.at.After(c.end.Add(100*time.Millisecond))) {
				explained = true
			}
		}
		if !explained && len(unexplained) < 8 {
			unexplained = append(unexplained, fmt.Sprintf("%.3fs–%.3fs replica %d account %s: status %d %s",
				c.start.Sub(e.began).Seconds(), c.end.Sub(e.began).Seconds(), c.replica, c.account, c.status, c.oauthErr))
		}
		if !explained {
			r.violations++
		}
	}
	r.refreshes = r.callsOK

	// Duplicates: a successful refresh that started before the previous token of the
	// account entered its refresh-ahead window, with no revocation in between (or
	// around the previous call, this refresh coming within revocationEcho of it).
	var dups []string
	for acct, oks := range perAccount {
		sort.Slice(oks, func(i, j int) bool { return oks[i].end.Before(oks[j].end) })
		for i := 1; i < len(oks); i++ {
			prev, c := oks[i-1], oks[i]
			ahead := min(refreshAhead, prev.expiresIn/2)
			need := prev.end.Add(prev.expiresIn - ahead - duplicateTolerance)
			forced := false
			for _, rv := range revocations {
				// After the previous answer: its token died. Around the previous call
				// (from revocationEcho before its start to its answer), with this refresh
				// within revocationEcho of the revocation: a replica could not tell
				// whether that call's token was issued before the revocation.
				after := rv.After(prev.end) && !rv.After(c.start)
				around := rv.After(prev.start.Add(-revocationEcho)) && !rv.After(prev.end) && !c.start.After(rv.Add(revocationEcho))
				if after || around {
					forced = true
				}
			}
			if c.start.Before(need) && !forced {
				r.duplicates++
				if len(dups) < 8 {
					dups = append(dups, fmt.Sprintf("account %s: refresh by replica %d at %.3fs, %.3fs after replica %d's answer at %.3fs (the token was fresh until %.3fs)",
						acct, c.replica, c.start.Sub(e.began).Seconds(), c.start.Sub(prev.end).Seconds(), prev.replica,
						prev.end.Sub(e.began).Seconds(), need.Add(duplicateTolerance).Sub(e.began).Seconds()))
				}
			}
		}
	}

	// Final state: statuses from the admin API, refresh tokens from Redis.
	var list struct {
		Accounts []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"accounts"`
	}
	if err := e.liveReplica().adminGet("/admin/v1/accounts", &list); err != nil {
		t.Errorf("admin list: %v", err)
	}
	listed := map[string]string{}
	for _, a := range list.Accounts {
		listed[a.ID] = a.Status
	}
	var lost []string
	for _, a := range e.accounts {
		if st, ok := listed[a]; !ok || st != "ok" {
			r.reauth++
			t.Errorf("account %s ends with status %q in the admin list", a, st)
		}
		rec, err := e.storedRecord(a)
		switch {
		case err != nil:
			r.rtLost++
			lost = append(lost, fmt.Sprintf("%s: %v", a, err))
		case !e.emu.refreshTokenLive(t, rec.RefreshToken):
			r.rtLost++
			head := e.tap.headOf(a)
			lost = append(lost, fmt.Sprintf("%s: the stored refresh token is dead (stored is the newest issued: %v; newest issued is live: %v)",
				a, rec.RefreshToken == head, e.emu.refreshTokenLive(t, head)))
		}
	}
	live := e.emu.liveRefreshTokens(t)

	r.pass = r.violations == 0 && r.duplicates == 0 && r.invalid == 0 && r.reauth == 0 && r.rtLost == 0 &&
		live == len(e.accounts) && tapRefreshCalls == stats.RefreshCalls && !t.Failed()
	addRow(r)
	t.Logf("%s\n%s", tableHeader, r)
	t.Logf("requests %d, 200 %d; emulator: token calls %d, refresh calls %d, invalid_grant %d, injected failures %d, API calls %d, 401 %d",
		r.requests, e.load.ok.Load(), stats.TokenCalls, stats.RefreshCalls, stats.InvalidGrants, stats.TokenFailures, stats.APICalls, stats.Unauthorized)

	if len(violations) > 0 {
		t.Errorf("%d non-200 answers outside the allowed windows:\n  %s", reqViolations, strings.Join(violations, "\n  "))
	}
	if len(unexplained) > 0 {
		t.Errorf("failed token calls without a fault to explain them, e.g.:\n  %s", strings.Join(unexplained, "\n  "))
	}
	if r.duplicates > 0 {
		t.Errorf("%d duplicate refreshes, e.g.:\n  %s", r.duplicates, strings.Join(dups, "\n  "))
	}
	if r.invalid != 0 {
		t.Errorf("the token endpoint answered invalid_grant %d times (a refresh with a rotated-away token)", r.invalid)
	}
	if len(lost) > 0 {
		t.Errorf("refresh tokens lost: %s", strings.Join(lost, "; "))
	}
	if live != len(e.accounts) {
		t.Errorf("the emulator has %d live refresh tokens, want %d (one per account)", live, len(e.accounts))
	}
	if tapRefreshCalls != stats.RefreshCalls {
		t.Errorf("the tap saw %d refresh calls, the emulator %d: some call bypassed the tap", tapRefreshCalls, stats.RefreshCalls)
	}
	if t.Failed() || os.Getenv("CHAOS_VERBOSE") != "" {
		e.mu.Lock()
		t.Logf("timeline:\n  %s", strings.Join(e.notes, "\n  "))
		e.mu.Unlock()
		var b strings.Builder
		for _, c := range calls {
			fmt.Fprintf(&b, "\n  %7.3fs–%7.3fs replica %d %-8s status %3d %s rotated=%v", c.start.Sub(e.began).Seconds(), c.end.Sub(e.began).Seconds(),
				c.replica, c.account, c.status, c.oauthErr, c.rotatedTo != "")
		}
		t.Logf("token calls (times since the load started):%s", b.String())
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
