package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/testclock"
	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyauth"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// contrastJS lists the visible text whose colour has a contrast below 4.5:1 with
// its background (WCAG 2 relative luminance), as JSON.
const contrastJS = `(() => {
  const rgb = c => c.match(/[\d.]+/g).map(Number);
  const lum = c => { const [r, g, b] = rgb(c).slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const bg = el => { for (let e = el; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor; const v = rgb(c); if (v.length < 4 || v[3] > 0) return c; } return "rgb(255, 255, 255)"; };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    if (!el.getClientRects().length) continue;
    const a = lum(getComputedStyle(el).color), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(el.tagName + "." + el.className + " " + JSON.stringify(el.textContent.trim().slice(0, 30)) + " " + ratio.toFixed(2));
  }
  return JSON.stringify(low);
})()`

// rowsJS lists the accounts table's rows as "id:status".
const rowsJS = `JSON.stringify([...document.querySelectorAll("#accounts tbody tr[data-account]")].map(tr => tr.dataset.account + ":" + tr.querySelector(".status").textContent))`

// A real browser on the operator page: sign in through the form and come back,
// see three seeded accounts with their statuses (style and contrast applied under
// the CSP, keyboard focus visible and in order), delete one through the
// confirmation, re-link one through the emulator's authorize page, make a login
// link (the optional script adds a Copy button; without scripts the link is
// still there), and a cross-site form post refused.
func TestBrowserOperatorPage(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	dir := artifactsDir(t)

	c := newClock()
	emu := spotifyemu.New(spotifyemu.Options{ClientID: testClientID, ClientSecret: testClientSecret, Now: c.Now})
	emuSrv := httptest.NewServer(emu)
	t.Cleanup(emuSrv.Close)
	adminSrv := httptest.NewUnstartedServer(nil)
	adminURL := "http://" + adminSrv.Listener.Addr().String()
	auth := spotifyauth.New(spotifyauth.Config{
		ClientID: testClientID, ClientSecret: testClientSecret, AccountsURL: emuSrv.URL,
		RedirectURL: adminURL + "/auth/callback", Timeout: 10 * time.Second,
	})
	t.Cleanup(auth.CloseIdleConnections)
	gate := ratelimit.NewGate(ratelimit.Config{App: testClientID, Clock: testclock.NewFake(c.Now())})
	gate.Record(context.Background(), 90*time.Second, "QUOTA_EXCEEDED") // Spotify answered 429
	e := newEnv(t, envOption{clock: c, admin: func(cfg *Config) {
		cfg.Login, cfg.RedirectURL, cfg.Scopes = auth, adminURL+"/auth/callback", testScopes
		cfg.RefreshTokenLifetime = 4380 * time.Hour
		cfg.RateLimits = GateLimits(gate)
	}})
	adminSrv.Config.Handler = e.h
	adminSrv.Start()
	t.Cleanup(adminSrv.Close)

	now := c.Now()
	for _, rec := range []tokenstore.Record{
		{Account: "alice", Status: tokenstore.StatusOK, RefreshToken: "RT-alice", AccessToken: "AT-alice", Expiry: now.Add(50 * time.Minute),
			Scope: "user-read-private streaming", AuthorizedAt: now.Add(-40 * 24 * time.Hour), RefreshedAt: now.Add(-10 * time.Minute), Cause: tokenstore.CauseAhead},
		{Account: "bob", Status: tokenstore.StatusReauthRequired, RefreshToken: "RT-bob", Scope: "user-read-private",
			AuthorizedAt: now.Add(-170 * 24 * time.Hour), RefreshedAt: now.Add(-3 * time.Hour), Cause: tokenstore.CauseExpired, ReauthAt: now.Add(-2 * time.Hour)},
		{Account: "carol", Status: tokenstore.StatusOK, RefreshToken: "RT-carol", Scope: "user-read-private"},
	} {
		if _, err := e.store.Put(context.Background(), rec, 0); err != nil {
			t.Fatal(err)
		}
	}

	br := startChromium(t, adminURL+"/", 1400, 60*time.Second, e.logs.String)
	step, run := br.step, br.run
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(step, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluating %s: %v", js, err)
		}
		return v
	}
	location := func() string {
		t.Helper()
		s, err := chromedp.Run(step, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(s, adminURL)
	}
	screenshot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(step, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}

	// Not signed in: the sign-in form, which comes back to the page.
	run("sign-in form", chromedp.WaitVisible(chromedp.ID("token")))
	if at := location(); at != "/auth/signin?next=%2F" {
		t.Fatalf("the browser is at %s, want the sign-in form", at)
	}
	run("sign in",
		chromedp.SendKeys(chromedp.ID("token"), testAdminToken),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("accounts")),
	)
	if at := location(); at != "/" {
		t.Fatalf("after signing in the browser is at %s", at)
	}
	if got := eval(rowsJS); got != `["alice:ok","bob:reauth_required","carol:ok"]` {
		t.Fatalf("rows %s", got)
	}
	if got := eval(`document.querySelector("#ratelimits + table tbody td").textContent`); got != "blocked (QUOTA_EXCEEDED): 1m30s left" {
		t.Fatalf("rate-limit panel: %q", got)
	}
	// The stylesheet applied (the CSP allows this origin's), and text is readable.
	if bg := eval(`getComputedStyle(document.querySelector(".status.ok")).backgroundColor`); bg != "rgb(223, 243, 228)" {
		t.Fatalf("the stylesheet did not apply: status background %s", bg)
	}
	if low := eval(contrastJS); low != "[]" {
		t.Fatalf("text below 4.5:1 contrast: %s", low)
	}
	if lt := eval(`document.querySelector("#account-alice .life").textContent`); !strings.HasPrefix(lt, "142 of 182 days left") {
		t.Fatalf("alice's refresh token life: %q", lt)
	}
	if lt := eval(`document.querySelector("#account-carol .lifetime").textContent`); !strings.Contains(lt, "unknown") {
		t.Fatalf("carol's refresh token life: %q", lt)
	}
	screenshot("operator-page.png")

	// Keyboard: the skip link comes first and shows when focused, then the header,
	// then the filter; focus is outlined.
	var order []string
	for range 5 {
		run("tab", chromedp.KeyEvent("\t"))
		order = append(order, eval(`(() => { const a = document.activeElement; const s = getComputedStyle(a);
			return a.tagName + ":" + (a.textContent.trim() || a.id) + ":" + s.outlineStyle + ":" + (a.getBoundingClientRect().left >= 0); })()`))
	}
	want := []string{"A:Skip to content:solid:true", "A:spotify-token-proxy · operator:solid:true", "BUTTON:Sign out:solid:true", "SELECT:", "BUTTON:Filter:solid:true"}
	for i, w := range want {
		if !strings.HasPrefix(order[i], w) {
			t.Fatalf("focus order %v, want %v", order, want)
		}
	}

	// Filter by status, without JavaScript: the select and the button are a GET form.
	run("filter",
		chromedp.SetValue(chromedp.ID("status"), "reauth_required"),
		chromedp.Click(chromedp.CSS(`form.filter button`)),
		chromedp.WaitVisible(chromedp.CSS(`form.filter a[href="/"]`)), // Clear: only on a filtered page
	)
	if got := eval(rowsJS); got != `["bob:reauth_required"]` || location() != "/?status=reauth_required" {
		t.Fatalf("filtered rows %s at %s", got, location())
	}

	// Delete bob: a confirmation page first, then the post.
	run("delete bob",
		chromedp.Click(chromedp.CSS(`a[aria-label="Delete bob"]`)),
		chromedp.WaitVisible(chromedp.CSS(".warn")),
	)
	if at := location(); at != "/accounts/bob/delete" {
		t.Fatalf("delete went to %s", at)
	}
	if _, ok := e.record(t, "bob"); !ok {
		t.Fatal("the confirmation page deleted bob")
	}
	screenshot("operator-delete-confirm.png")
	run("confirm the delete",
		chromedp.Click(chromedp.CSS(`button.danger`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	if got := eval(rowsJS); got != `["alice:ok","carol:ok"]` || location() != "/?deleted=bob" {
		t.Fatalf("after the delete: rows %s at %s", got, location())
	}
	if _, ok := e.record(t, "bob"); ok {
		t.Fatal("bob is still stored")
	}

	// Re-link alice: the login confirmation, Spotify (the emulator), the callback.
	run("re-link alice",
		chromedp.Click(chromedp.CSS(`button[aria-label="Re-link alice"]`)),
		chromedp.WaitVisible(chromedp.CSS(".warn")),
	)
	if at := location(); at != "/auth/login?account=alice" {
		t.Fatalf("re-link went to %s", at)
	}
	eval(`document.documentElement.dataset.left = "yes"`)
	run("continue to Spotify",
		chromedp.Click(chromedp.CSS(`form[action="/auth/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("html:not([data-left]) main p")),
	)
	if at := location(); !strings.HasPrefix(at, "/auth/callback?") || eval(`document.querySelector("h1").textContent`) != "Account linked" {
		t.Fatalf("after the re-link the browser is at %s: %s", at, eval(`document.body.textContent`))
	}
	rec, _ := e.record(t, "alice")
	if rec.RefreshToken == "RT-alice" || !emu.RefreshTokenLive(rec.RefreshToken) || !rec.AuthorizedAt.Equal(c.Now()) {
		t.Fatalf("the re-link did not replace alice's token (authorised %v)", rec.AuthorizedAt)
	}
	run("back to the page", chromedp.Navigate(adminURL+"/"), chromedp.WaitVisible(chromedp.ID("accounts")))
	if lt := eval(`document.querySelector("#account-alice .life").textContent`); !strings.HasPrefix(lt, "182 of 182 days left") {
		t.Fatalf("alice's refresh token life after the re-link: %q", lt)
	}

	// A login link for carol: the script adds a Copy button next to the link.
	run("login link",
		chromedp.Click(chromedp.CSS(`button[aria-label="Make a login link for carol"]`)),
		chromedp.WaitVisible(chromedp.ID("login-link")),
		chromedp.WaitVisible(chromedp.CSS(`.copy button`)),
	)
	link := eval(`document.getElementById("login-link").value`)
	if !strings.HasPrefix(link, emuSrv.URL+"/authorize?") || eval(`String(document.getElementById("login-link").readOnly)`) != "true" {
		t.Fatalf("login link %q", link)
	}
	screenshot("operator-login-link.png")

	// Without JavaScript the page still works: a new login link, no Copy button.
	if _, err := chromedp.Call(step, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	run("login link without scripts",
		chromedp.Navigate(adminURL+"/"),
		chromedp.WaitVisible(chromedp.ID("accounts")),
		chromedp.Click(chromedp.CSS(`button[aria-label="Make a login link for carol"]`)),
		chromedp.WaitVisible(chromedp.ID("login-link")),
	)
	if n, err := chromedp.Run(step, chromedp.Nodes(chromedp.CSS(`.copy button`), chromedp.AtLeast(0))); err != nil || len(n) != 0 {
		t.Fatalf("with scripts off: %d copy buttons, %v", len(n), err)
	}
	if _, err := chromedp.Call(step, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false}); err != nil {
		t.Fatal(err)
	}

	// A page on another site posts a delete form to the admin, even with a valid
	// CSRF token: the browser says where it came from, and the post is refused.
	run("back to the page", chromedp.Navigate(adminURL+"/"), chromedp.WaitVisible(chromedp.ID("accounts")))
	csrf := eval(`document.querySelector("input[name=csrf_token]").value`)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><title>prize</title><form method="post" action="%s/accounts/alice/delete">`+
			`<input type="hidden" name="csrf_token" value="%s"><button id="go" type="submit">Claim</button></form>`, adminURL, csrf)
	}))
	t.Cleanup(evil.Close)
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1) // another site than 127.0.0.1
	run("cross-site post",
		chromedp.Navigate(evilURL),
		chromedp.Click(chromedp.ID("go")),
		chromedp.WaitVisible(chromedp.CSS("main h1")),
	)
	if h := eval(`document.querySelector("h1").textContent`); h != "Cross-site request refused" {
		t.Fatalf("cross-site post answered %q: %s", h, eval(`document.body.textContent`))
	}
	if _, ok := e.record(t, "alice"); !ok {
		t.Fatal("the cross-site post deleted alice")
	}
	if !strings.Contains(e.logs.String(), `"cross-site request refused"`) {
		t.Fatal("the refusal was not logged")
	}
	screenshot("operator-cross-site-refused.png")
}
