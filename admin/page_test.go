package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/testclock"
	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// A visitor without a session is sent to the sign-in form, and comes back to the
// page (with its query) after signing in.
func TestOperatorPageNeedsSignIn(t *testing.T) {
	p := newPageEnv(t, nil)
	for _, path := range []string{"/?status=ok", "/accounts/alice/delete"} {
		a := p.b.get(t, path)
		if a.status != http.StatusSeeOther || a.header.Get("Location") != "/auth/signin?next="+url.QueryEscape(path) {
			t.Fatalf("GET %s without a session: %d → %q", path, a.status, a.header.Get("Location"))
		}
		if strings.Contains(a.body, "<table") {
			t.Fatalf("GET %s without a session shows the page", path)
		}
	}
	form := p.b.get(t, "/auth/signin?next="+url.QueryEscape("/?status=ok"))
	if hiddenFields(form.body).Get("next") != "/?status=ok" {
		t.Fatalf("the sign-in form does not come back: %s", form.body)
	}
	p.signIn(t, "/?status=ok")
	a := p.b.get(t, "/?status=ok")
	wantOperatorPage(t, a, http.StatusOK, `<table id="accounts">`)

	// A wrong cookie is no session.
	other := inProcessBrowser(t, p.h)
	other.setSessionCookie(t, strings.Repeat("A", 43))
	if a := other.get(t, "/"); a.status != http.StatusSeeOther {
		t.Fatalf("a made-up session cookie: %d", a.status)
	}
}

// The table shows each account's status, scope, expiry, last refresh and its
// trigger, authorisation time, the refresh token's remaining life and the last
// error, and never a token.
func TestOperatorPageRenders(t *testing.T) {
	p := newPageEnv(t, nil)
	now := p.clock.Now()
	p.seed(t, tokenstore.Record{Account: "alice", Status: tokenstore.StatusOK, AccessToken: "AT-secret-alice",
		Expiry: now.Add(42 * time.Minute), Scope: "user-read-private streaming", AuthorizedAt: now.Add(-30 * 24 * time.Hour),
		RefreshedAt: now.Add(-18 * time.Minute), Cause: tokenstore.CauseAhead})
	p.seed(t, tokenstore.Record{Account: "bob", Status: tokenstore.StatusReauthRequired, AuthorizedAt: now.Add(-200 * 24 * time.Hour),
		ReauthAt: now.Add(-time.Hour)})
	p.seed(t, tokenstore.Record{Account: "carol", Status: tokenstore.StatusOK})
	p.seed(t, tokenstore.Record{Account: "app", Status: tokenstore.StatusOK, ClientCredentials: true, AccessToken: "CC-secret", Expiry: now.Add(time.Hour)})
	p.signIn(t, "/")
	a := p.b.get(t, "/")
	wantOperatorPage(t, a, http.StatusOK, "Accounts")
	ids, row := rows(a.body)
	if fmt.Sprint(ids) != "[alice app bob carol]" {
		t.Fatalf("rows %v", ids)
	}
	for _, secret := range []string{"AT-secret", "RT-secret", "CC-secret"} {
		if strings.Contains(a.body, secret) {
			t.Fatalf("the page shows a token (%s)", secret)
		}
	}
	for id, wants := range map[string][]string{
		"alice": {`<span class="status ok">ok</span>`, "<code>user-read-private</code> <code>streaming</code>",
			when(now.Add(42 * time.Minute)), "in 42m", when(now.Add(-18 * time.Minute)), ">ahead<",
			when(now.Add(-30 * 24 * time.Hour)), `max="182.5"`, `value="152.5"`, "152 of 182 days left",
			"until " + when(now.Add(-30*24*time.Hour).Add(4380*time.Hour)), `<span class="muted">none</span></td>`,
			`aria-label="Re-link alice"`, `href="/accounts/alice/delete"`, `action="/accounts/alice/login-link"`},
		"bob": {`<span class="status reauth_required">reauth_required</span>`, "no access token", ">never<",
			"Spotify rejected the refresh token (invalid_grant) at " + when(now.Add(-time.Hour)), "expired"},
		"carol": {"unknown <span class=\"muted\">(no authorised-at time)</span>", "<td>unknown</td>"},
		"app":   {"n/a (app token)", `href="/accounts/app/delete"`},
	} {
		for _, want := range wants {
			if !strings.Contains(row[id], want) {
				t.Errorf("row %s lacks %q:\n%s", id, want, row[id])
			}
		}
	}
	if strings.Contains(row["app"], "Re-link") || strings.Contains(row["app"], "login-link") {
		t.Errorf("the app account offers a user login: %s", row["app"])
	}
	for _, want := range []string{`<th scope="col">Account</th>`, `<th scope="row"><code>alice</code></th>`, `<label for="status">Status</label>`,
		`<link rel="stylesheet" href="/static/operator.css">`, "Refresh tokens last 4380h (182 days)"} {
		if !strings.Contains(a.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// REFRESH_TOKEN_LIFETIME=0: no limit is shown, whatever authorized_at says.
func TestOperatorPageUnlimitedLifetime(t *testing.T) {
	p := newPageEnv(t, func(c *Config) { c.RefreshTokenLifetime = 0 })
	p.seed(t, tokenstore.Record{Account: "alice", Status: tokenstore.StatusOK, AuthorizedAt: p.clock.Now().Add(-400 * 24 * time.Hour)})
	p.signIn(t, "/")
	_, row := rows(p.b.get(t, "/").body)
	if !strings.Contains(row["alice"], "no limit") || strings.Contains(row["alice"], "<meter") {
		t.Fatalf("row %s", row["alice"])
	}
}

// ?status= shows only the accounts of that status; an unknown one is a 400.
func TestOperatorPageFilter(t *testing.T) {
	p := newPageEnv(t, nil)
	p.seed(t, tokenstore.Record{Account: "alice", Status: tokenstore.StatusOK})
	p.seed(t, tokenstore.Record{Account: "bob", Status: tokenstore.StatusReauthRequired})
	p.seed(t, tokenstore.Record{Account: "carol", Status: tokenstore.StatusOK})
	p.signIn(t, "/")
	for status, want := range map[string]string{"": "[alice bob carol]", "ok": "[alice carol]", "reauth_required": "[bob]", "corrupt": "[]"} {
		a := p.b.get(t, "/?status="+status)
		ids, _ := rows(a.body)
		if fmt.Sprint(ids) != want {
			t.Errorf("status=%s: rows %v, want %s", status, ids, want)
		}
		if status != "" && !strings.Contains(a.body, `<option value="`+status+`" selected>`) {
			t.Errorf("status=%s: the filter does not show the selection", status)
		}
	}
	wantPage(t, p.b.get(t, "/?status=bogus"), http.StatusBadRequest, "status must be")
}

// Pages follow the store's cursor: each page is one store page, the Next link
// goes on after the last row, the last page has none. A filtered page reads
// store pages until it has a page of matches, within a budget.
func TestOperatorPagePaging(t *testing.T) {
	p := newPageEnv(t, nil)
	const n = 2*pageSize + 7
	for i := range n {
		st := tokenstore.StatusOK
		if i%5 == 0 {
			st = tokenstore.StatusReauthRequired
		}
		p.seed(t, tokenstore.Record{Account: fmt.Sprintf("user-%04d", i), Status: st})
	}
	p.signIn(t, "/")
	p.tokens.reads()
	var seen []string
	path, pages := "/", 0
	for path != "" {
		a := p.b.get(t, path)
		if a.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, a.status, a.body)
		}
		ids, _ := rows(a.body)
		seen = append(seen, ids...)
		calls, records := p.tokens.reads()
		if calls != 1 || records > pageSize {
			t.Fatalf("page %d read %d store pages, %d records; want one page of at most %d", pages, calls, records, pageSize)
		}
		path = nextPage(a.body)
		pages++
	}
	if pages != 3 || len(seen) != n || seen[0] != "user-0000" || seen[n-1] != fmt.Sprintf("user-%04d", n-1) {
		t.Fatalf("%d pages, %d accounts (%v … %v)", pages, len(seen), seen[:1], seen[len(seen)-1:])
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("accounts out of order or repeated: %s after %s", seen[i], seen[i-1])
		}
	}

	// Filtered: 22 of the 107 are reauth_required; one page holds them all.
	a := p.b.get(t, "/?status=reauth_required")
	ids, _ := rows(a.body)
	if len(ids) != 22 || nextPage(a.body) != "" {
		t.Fatalf("filtered: %d rows, next %q", len(ids), nextPage(a.body))
	}
	if calls, _ := p.tokens.reads(); calls != 1 {
		t.Fatalf("filtered over %d accounts: %d store reads", n, calls)
	}
	// After a cursor, only what follows it.
	a = p.b.get(t, "/?status=reauth_required&after=user-0050")
	ids, _ = rows(a.body)
	if len(ids) != 11 || ids[0] != "user-0055" {
		t.Fatalf("filtered after user-0050: %v", ids)
	}
	// The First page link comes back to the start of the same filter.
	if !strings.Contains(a.body, `<a href="/?status=reauth_required">First page</a>`) {
		t.Fatalf("no First page link: %s", a.body)
	}
}

// A filtered page that finds few matches stops at its read budget and offers to
// go on from where it stopped, instead of reading the whole store.
func TestOperatorPageFilterBudget(t *testing.T) {
	p := newPageEnv(t, nil)
	const n = filterBatch*filterReads + 30
	for i := range n {
		st := tokenstore.StatusOK
		if i == n-1 {
			st = tokenstore.StatusReauthRequired
		}
		p.seed(t, tokenstore.Record{Account: fmt.Sprintf("user-%04d", i), Status: st})
	}
	p.signIn(t, "/")
	p.tokens.reads()
	a := p.b.get(t, "/?status=reauth_required")
	ids, _ := rows(a.body)
	calls, records := p.tokens.reads()
	if len(ids) != 0 || calls != filterReads || records != filterBatch*filterReads {
		t.Fatalf("first page: rows %v, %d reads of %d records", ids, calls, records)
	}
	last := fmt.Sprintf("user-%04d", filterBatch*filterReads-1)
	if !strings.Contains(a.body, "through <code>"+last+"</code>") || nextPage(a.body) != "/?status=reauth_required&after="+last {
		t.Fatalf("no way on from %s: next %q", last, nextPage(a.body))
	}
	a = p.b.get(t, nextPage(a.body))
	ids, _ = rows(a.body)
	if fmt.Sprint(ids) != fmt.Sprintf("[user-%04d]", n-1) || nextPage(a.body) != "" {
		t.Fatalf("second page: %v, next %q", ids, nextPage(a.body))
	}
}

// The rate-limit panel follows the gate: open, then the block a 429 from Spotify
// imposed (its reason, time left and end), the probe after it, and the budget's use.
func TestOperatorPageShowsRateLimitBlock(t *testing.T) {
	clock := testclock.NewFake(time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC))
	budget := ratelimit.NewMemoryBudget(ratelimit.Limit{N: 150, Per: 30 * time.Second}, ratelimit.Limit{N: 50, Per: 30 * time.Second}, clock)
	gate := ratelimit.NewGate(ratelimit.Config{App: "client-abc", Budget: budget, Clock: clock})
	p := newPageEnv(t, func(c *Config) { c.RateLimits = GateLimits(gate) })
	p.signIn(t, "/")
	panel := func() string {
		t.Helper()
		a := p.b.get(t, "/")
		_, after, _ := strings.Cut(a.body, `<h2 id="ratelimits">`)
		panel, _, _ := strings.Cut(after, "</section>")
		return panel
	}
	ctx := context.Background()
	for range 2 {
		pass, err := gate.Admit(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		gate.Done(pass, 200)
	}
	for _, want := range []string{`<th scope="row">app client-abc</th><td>open</td><td>not blocked</td>`,
		`<th scope="row">budget of app client-abc</th><td>2 of 150 calls used in the last 30s; each account at most 50 per 30s</td>`} {
		if got := panel(); !strings.Contains(got, want) {
			t.Fatalf("before the 429: want %s in\n%s", want, got)
		}
	}

	gate.Record(ctx, 30*time.Second, "QUOTA_EXCEEDED") // what the proxy does on Spotify's 429
	clock.Advance(3 * time.Second)
	want := `<th scope="row">app client-abc</th><td>blocked (QUOTA_EXCEEDED): 27s left</td><td>2026-07-01 12:00:30 UTC</td>`
	if got := panel(); !strings.Contains(got, want) {
		t.Fatalf("after the 429: want %s in\n%s", want, got)
	}
	clock.Advance(27 * time.Second)
	probe, err := gate.Admit(ctx, "alice")
	if err != nil || !probe.Probe() {
		t.Fatalf("probe: %v", err)
	}
	if got := panel(); !strings.Contains(got, "<td>probing: a request of this replica tests Spotify</td><td>not blocked</td>") {
		t.Fatalf("while probing:\n%s", got)
	}
	gate.Done(probe, 200)
	if got := panel(); !strings.Contains(got, "<td>open</td>") {
		t.Fatalf("after the probe's 200:\n%s", got)
	}
}
