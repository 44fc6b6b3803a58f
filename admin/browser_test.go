package admin

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A real browser signs in with the admin token through the form, lands on the
// confirmation page of an account that is already linked, sees the warning, and
// continues through Spotify (the emulator) back to the callback. It checks what
// only a browser enforces: the CSP lets the page's own style apply and lets the
// confirmation form redirect to the accounts service, the session cookie is out
// of reach of scripts, and the cookie comes along on same-site navigations.
func TestBrowserSignInAndRelink(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	l := newLoginEnv(t)
	wantStatus(t, l.do(t, put("alice", `{"refresh_token":"RT-alice-old","access_token":"AT-alice-old","expires_in":3600,"scope":"user-read-private"}`)),
		http.StatusNoContent)
	dir := artifactsDir(t)

	c := startChromium(t, l.admin+"/auth/login?account=alice", 1000, 30*time.Second, l.logs.String)
	step, run := c.step, c.run
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(step, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	location := func() *url.URL {
		t.Helper()
		s, err := chromedp.Run(step, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	screenshot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(step, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
	// styled tells whether the page's stylesheet applied (a CSP that blocked it
	// would leave <main> without its rounded corners).
	styled := func() bool {
		t.Helper()
		r, err := chromedp.Run(step, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("main")).borderTopLeftRadius`))
		if err != nil {
			t.Fatal(err)
		}
		return r == "12px"
	}

	// Not signed in: the login page sent the browser to the sign-in form.
	run("sign-in form", chromedp.WaitVisible(chromedp.ID("token")))
	if u := location(); u.Path != "/auth/signin" || u.Query().Get("next") != "/auth/login?account=alice" {
		t.Fatalf("the browser is at %s, want the sign-in form", u)
	}
	if h := text("h1"); h != "Sign in" {
		t.Fatalf("heading %q", h)
	}
	if !styled() {
		t.Fatal("the sign-in page's style did not apply (CSP hash?)")
	}
	screenshot("admin-signin.png")

	run("sign in",
		chromedp.SendKeys(chromedp.ID("token"), testAdminToken),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".warn")),
	)
	if u := location(); u.Path != "/auth/login" || u.RawQuery != "account=alice" {
		t.Fatalf("after sign-in the browser is at %s", u)
	}
	warn := text(".warn")
	for _, want := range []string{"Account alice is already linked", "replaces its token"} {
		if !strings.Contains(warn, want) {
			t.Fatalf("warning %q lacks %q", warn, want)
		}
	}
	if h := text("h1"); h != "Re-link account alice" {
		t.Fatalf("heading %q", h)
	}
	if !styled() {
		t.Fatal("the confirmation page's style did not apply")
	}
	if c, err := chromedp.Run(step, chromedp.Evaluate[string](`document.cookie`)); err != nil || c != "" {
		t.Fatalf("scripts can read cookies: %q %v", c, err)
	}
	screenshot("admin-confirm-relink.png")

	// Continue: POST with the CSRF token, 302 to the emulator's authorize page
	// (allowed by form-action), which sends the browser to the callback.
	// The callback page has no element of its own: mark this document, and wait
	// for a paragraph in an unmarked one.
	if _, err := chromedp.Run(step, chromedp.Evaluate[string](`document.documentElement.dataset.left = "yes"`)); err != nil {
		t.Fatal(err)
	}
	run("continue to Spotify",
		chromedp.Click(chromedp.CSS(`form[action="/auth/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("html:not([data-left]) main p")),
	)
	if u := location(); u.Path != "/auth/callback" {
		t.Fatalf("after confirming the browser is at %s", u)
	}
	if h := text("h1"); h != "Account linked" {
		t.Fatalf("callback page %q: %s", h, text("main"))
	}
	screenshot("admin-linked.png")
	rec, _ := l.record(t, "alice")
	if rec.RefreshToken == "RT-alice-old" || !l.emu.RefreshTokenLive(rec.RefreshToken) {
		t.Fatal("the browser's login did not replace alice's token")
	}
}
