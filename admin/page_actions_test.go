package admin

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// Deleting asks for a confirmation first (GET changes nothing); the confirmed POST
// needs the session's CSRF token and a same-site request, then deletes and goes
// back to the list.
func TestOperatorPageDelete(t *testing.T) {
	spy := &spyEmitter{}
	p := newPageEnv(t, func(cfg *Config) { cfg.Events = spy })
	p.seed(t, tokenstore.Record{Account: "alice", Status: tokenstore.StatusOK})
	p.seed(t, tokenstore.Record{Account: "bob", Status: tokenstore.StatusReauthRequired})
	p.signIn(t, "/")

	a := p.b.get(t, "/accounts/bob/delete")
	wantOperatorPage(t, a, http.StatusOK, "Deleting account bob removes its tokens")
	if _, ok := p.record(t, "bob"); !ok {
		t.Fatal("the confirmation page deleted the account")
	}
	f := hiddenFields(a.body)
	if f.Get(csrfField) == "" || !strings.Contains(a.body, `<form method="post" action="/accounts/bob/delete">`) {
		t.Fatalf("confirmation form: %s", a.body)
	}

	for name, tc := range map[string]struct {
		form url.Values
		hdr  map[string]string
	}{
		"no CSRF token":          {url.Values{}, nil},
		"wrong CSRF token":       {url.Values{csrfField: {otherToken(f.Get(csrfField))}}, nil},
		"cross-site fetch":       {f, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		"same-site fetch":        {f, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://other.admin.test"}},
		"foreign Origin only":    {f, map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}},
		"null Origin, no header": {f, map[string]string{"Sec-Fetch-Site": "", "Origin": "null"}},
	} {
		a := p.b.post(t, "/accounts/bob/delete", tc.form, tc.hdr)
		if a.status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, a.status)
		}
		if _, ok := p.record(t, "bob"); !ok {
			t.Fatalf("%s: the account was deleted", name)
		}
	}
	// Another session's token is no good: it is bound to the session.
	other := inProcessBrowser(t, p.h)
	if a := other.post(t, "/auth/signin", url.Values{"token": {testAdminToken}, "next": {"/"}}, nil); a.status != http.StatusSeeOther {
		t.Fatal(a.status)
	}
	if a := other.post(t, "/accounts/bob/delete", f, nil); a.status != http.StatusForbidden {
		t.Fatalf("another session's CSRF token: %d", a.status)
	}
	// Without a session: refused, with a way to sign in.
	anon := inProcessBrowser(t, p.h)
	wantPage(t, anon.post(t, "/accounts/bob/delete", f, nil), http.StatusForbidden, "Sign in")

	a = p.b.post(t, "/accounts/bob/delete", f, nil)
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/?deleted=bob" {
		t.Fatalf("delete: %d → %q: %s", a.status, a.header.Get("Location"), a.body)
	}
	if _, ok := p.record(t, "bob"); ok {
		t.Fatal("bob is still stored")
	}
	if len(spy.deleted) != 1 || spy.deleted[0] != "bob" {
		t.Fatalf("account.deleted sent for %v, want [bob]", spy.deleted)
	}
	a = p.b.get(t, "/?deleted=bob")
	ids, _ := rows(a.body)
	if !strings.Contains(a.body, `<p class="notice" role="status">Account bob was deleted.</p>`) || len(ids) != 1 || ids[0] != "alice" {
		t.Fatalf("after the delete: rows %v: %s", ids, a.body)
	}
	if !strings.Contains(p.logs.String(), `"account deleted from the operator page"`) {
		t.Fatal("the deletion was not logged")
	}
}

var loginLinkRE = regexp.MustCompile(`<input id="login-link" type="text" readonly value="([^"]+)" data-copy>`)

// A login link is Spotify's authorize URL for a saved login state, shown in a
// read-only input; a re-link asks for consent again. It needs the CSRF token.
func TestOperatorPageLoginLink(t *testing.T) {
	p := newPageEnv(t, nil)
	p.seed(t, tokenstore.Record{Account: "bob", Status: tokenstore.StatusReauthRequired})
	p.signIn(t, "/")
	home := p.b.get(t, "/")
	csrf := hiddenFields(home.body).Get(csrfField)

	if a := p.b.post(t, "/accounts/bob/login-link", url.Values{}, nil); a.status != http.StatusForbidden || p.states.count() != 0 {
		t.Fatalf("without the CSRF token: %d, %d states", a.status, p.states.count())
	}
	if a := p.b.post(t, "/accounts/bob/login-link", url.Values{csrfField: {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}); a.status != http.StatusForbidden || p.states.count() != 0 {
		t.Fatalf("cross-site: %d, %d states", a.status, p.states.count())
	}
	for account, relink := range map[string]bool{"bob": true, "dave": false} {
		a := p.b.post(t, "/accounts/"+account+"/login-link", url.Values{csrfField: {csrf}}, nil)
		wantOperatorPage(t, a, http.StatusOK, `<label for="login-link">Login link for `+account+`</label>`)
		m := loginLinkRE.FindStringSubmatch(a.body)
		if m == nil {
			t.Fatalf("no read-only link: %s", a.body)
		}
		u, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		st, ok := p.states.get(q.Get("state"))
		if !ok || st.Account != account || st.Scope != testScopes || q.Get("code_challenge") != s256(st.Verifier) {
			t.Fatalf("%s: link %s, state %+v", account, u, st)
		}
		if q.Get("show_dialog") == "true" != relink {
			t.Fatalf("%s: show_dialog %q, re-link %v", account, q.Get("show_dialog"), relink)
		}
		if !strings.Contains(a.body, "until "+when(p.clock.Now().Add(LoginStateTTL))) {
			t.Fatalf("%s: the page does not say until when the link works", account)
		}
	}
}

// Invalid account ids in paths are a 400.
func TestOperatorPageBadAccount(t *testing.T) {
	p := newPageEnv(t, nil)
	p.signIn(t, "/")
	wantPage(t, p.b.get(t, "/accounts/bad%20id/delete"), http.StatusBadRequest, "Invalid account")
	f := hiddenFields(p.b.get(t, "/").body)
	wantPage(t, p.b.post(t, "/accounts/bad%20id/delete", f, nil), http.StatusBadRequest, "Invalid account")
}

type fakeRateLimits struct {
	entries []RateLimitEntry
	err     error
}

func (f fakeRateLimits) RateLimitSnapshot(context.Context) ([]RateLimitEntry, error) {
	return f.entries, f.err
}

type fakeEvents struct {
	entries []EventEntry
	err     error
	limit   *int
}

func (f fakeEvents) RecentEvents(_ context.Context, limit int) ([]EventEntry, error) {
	*f.limit = limit
	return f.entries, f.err
}

// The store's health, the rate limits and the recent events: "not configured"
// without them, their entries with them, an error line when they fail.
func TestOperatorPagePanels(t *testing.T) {
	p := newPageEnv(t, nil)
	p.signIn(t, "/")
	a := p.b.get(t, "/")
	if strings.Count(a.body, `<p class="muted">Not configured.</p>`) != 2 || !strings.Contains(a.body, "The token store answers.") {
		t.Fatalf("default panels: %s", a.body)
	}
	p.tokens.pingFail = true
	if a := p.b.get(t, "/"); !strings.Contains(a.body, "The token store does not answer.") || strings.Contains(a.body, "connection refused") {
		t.Fatalf("failing store: %s", a.body)
	}
	p.srv.SetDraining()
	if a := p.b.get(t, "/"); !strings.Contains(a.body, "This replica is shutting down.") {
		t.Fatal("draining is not shown")
	}

	var limit int
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	q := newPageEnv(t, func(c *Config) {
		c.RateLimits = fakeRateLimits{entries: []RateLimitEntry{{Subject: "account alice", State: "0 of 10 left", BlockedUntil: at}}}
		c.EventLog = fakeEvents{limit: &limit, entries: []EventEntry{{ID: "ev-1", Type: "account.reauth_required", Account: "bob", Time: at, Delivery: "pending (3 attempts)"}}}
	})
	q.signIn(t, "/")
	a = q.b.get(t, "/")
	for _, want := range []string{"<th scope=\"row\">account alice</th><td>0 of 10 left</td><td>2026-11-30 12:00:00 UTC</td>",
		"<code>account.reauth_required</code>", "<code>bob</code>", "pending (3 attempts)"} {
		if !strings.Contains(a.body, want) {
			t.Errorf("panels lack %q", want)
		}
	}
	if strings.Contains(a.body, "Not configured.") || limit != recentEvents {
		t.Errorf("configured panels say not configured, or asked for %d events", limit)
	}

	r := newPageEnv(t, func(c *Config) {
		c.RateLimits = fakeRateLimits{err: errors.New("down")}
		c.EventLog = fakeEvents{limit: &limit, err: errors.New("down")}
	})
	r.signIn(t, "/")
	a = r.b.get(t, "/")
	if !strings.Contains(a.body, "The rate-limit state could not be read.") || !strings.Contains(a.body, "The events could not be read.") {
		t.Fatalf("failing panels: %s", a.body)
	}
}

// The stylesheet and the script are served from the binary; nothing else is.
func TestOperatorPageStatic(t *testing.T) {
	p := newPageEnv(t, nil)
	a := p.b.get(t, "/static/operator.css")
	if a.status != http.StatusOK || a.header.Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(a.body, ":focus-visible") {
		t.Fatalf("stylesheet: %d %q", a.status, a.header.Get("Content-Type"))
	}
	a = p.b.get(t, "/static/operator.js")
	if a.status != http.StatusOK || a.header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("script: %d %q", a.status, a.header.Get("Content-Type"))
	}
	for _, path := range []string{"/static/", "/static/nothing.css", "/static/..%2Fpage.go"} {
		if a := p.b.get(t, path); a.status != http.StatusNotFound {
			t.Errorf("GET %s: %d", path, a.status)
		}
	}
}
