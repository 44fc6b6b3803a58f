package admin

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// The whole browser flow, as a browser does it: sign in, review, confirm with the
// CSRF token, Spotify, callback. Then a re-link of the same account shows the
// stored record and a warning, and makes Spotify ask for consent again.
func TestBrowserLoginFlow(t *testing.T) {
	l := newLoginEnv(t)
	b := l.newBrowser(t)

	// Without a session the login page sends the browser to the sign-in form,
	// not to a Basic challenge, and keeps where it was going.
	a := b.get(t, "/auth/login?account=alice&scope=streaming")
	if a.status != http.StatusSeeOther || a.header.Get("WWW-Authenticate") != "" {
		t.Fatalf("no session: %d, challenge %q", a.status, a.header.Get("WWW-Authenticate"))
	}
	next := "/auth/login?account=alice&scope=streaming"
	if a.header.Get("Location") != "/auth/signin?next="+url.QueryEscape(next) {
		t.Fatalf("Location %q", a.header.Get("Location"))
	}
	form := b.get(t, a.header.Get("Location"))
	wantPage(t, form, http.StatusOK, `type="password"`)
	f := hiddenFields(form.body)
	if f.Get("next") != next {
		t.Fatalf("the form's next is %q", f.Get("next"))
	}

	// Signing in sets a strict, HttpOnly session cookie and returns to next.
	f.Set("token", testAdminToken)
	a = b.post(t, "/auth/signin", f, nil)
	if a.status != http.StatusSeeOther || a.header.Get("Location") != next {
		t.Fatalf("sign-in: %d → %q", a.status, a.header.Get("Location"))
	}
	c := setCookie(t, a, sessionCookie)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure ||
		c.MaxAge != int(DefaultSessionTTL/time.Second) || len(c.Value) != 43 {
		t.Fatalf("session cookie %+v", c)
	}

	// The confirmation page of a first link: account and scopes, no warning.
	page, f := b.confirm(t, "account=alice&scope=streaming")
	wantPage(t, page, http.StatusOK, "Link account alice")
	if !strings.Contains(page.body, "<code>streaming</code>") || strings.Contains(page.body, "already linked") {
		t.Fatalf("first-link page: %s", page.body)
	}
	if l.states.count() != 0 {
		t.Fatal("viewing the confirmation page started a login")
	}
	a = b.post(t, "/auth/login", f, nil)
	if a.status != http.StatusFound {
		t.Fatalf("POST /auth/login: %d %s", a.status, a.body)
	}
	loc, _ := url.Parse(a.header.Get("Location"))
	q := loc.Query()
	st, ok := l.states.get(q.Get("state"))
	if !ok || st.Account != "alice" || st.Scope != "streaming" || q.Get("code_challenge") != s256(st.Verifier) ||
		q.Get("code_challenge_method") != "S256" || q.Get("scope") != "streaming" {
		t.Fatalf("authorize URL %s, state %+v", loc, st)
	}
	if q.Has("show_dialog") {
		t.Fatalf("a first link asks for show_dialog: %s", loc)
	}
	wantPage(t, l.get(t, l.authorize(t, loc, ""), ""), http.StatusOK, "Account alice linked")
	first, ok := l.record(t, "alice")
	if !ok {
		t.Fatal("alice was not stored")
	}

	// Re-linking: the page shows the record and warns; Spotify gets show_dialog=true.
	l.clock.Add(time.Hour)
	page, f = b.confirm(t, "account=alice")
	wantPage(t, page, http.StatusOK, "Account alice is already linked")
	for _, want := range []string{"Re-link account alice", "replaces its token", "<dd>ok</dd>", when(first.AuthorizedAt), "<code>streaming</code>"} {
		if !strings.Contains(page.body, want) {
			t.Fatalf("re-link page lacks %q: %s", want, page.body)
		}
	}
	a = b.post(t, "/auth/login", f, nil)
	loc, _ = url.Parse(a.header.Get("Location"))
	if a.status != http.StatusFound || loc.Query().Get("show_dialog") != "true" || loc.Query().Get("scope") != testScopes {
		t.Fatalf("re-link: %d → %s", a.status, loc)
	}
	wantPage(t, l.get(t, l.authorize(t, loc, ""), ""), http.StatusOK, "Account alice linked")
	if again, _ := l.record(t, "alice"); again.RefreshToken == first.RefreshToken || !again.AuthorizedAt.After(first.AuthorizedAt) {
		t.Fatal("the re-link did not replace the token")
	}

	// Another account next to alice is a first link again (the lookup is exact).
	for _, other := range []string{"alicf", "alic", "alice0", "Alice"} {
		a = b.post(t, "/auth/login", url.Values{"account": {other}, csrfField: {f.Get(csrfField)}}, nil)
		loc, _ = url.Parse(a.header.Get("Location"))
		if a.status != http.StatusFound || loc.Query().Has("show_dialog") {
			t.Fatalf("%s: %d → %s", other, a.status, loc)
		}
	}
}

func setCookie(t *testing.T, a answer, name string) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie set: %v", name, a.header.Values("Set-Cookie"))
	return nil
}

// Every way a request that would start a login can be forged is refused with 403
// and starts nothing.
func TestLoginRefusals(t *testing.T) {
	l := newLoginEnv(t)
	b := l.newBrowser(t)
	b.signIn(t)
	_, f := b.confirm(t, "account=alice")

	other := l.newBrowser(t)
	other.signIn(t)
	_, otherForm := other.confirm(t, "account=alice")
	if otherForm.Get(csrfField) == f.Get(csrfField) {
		t.Fatal("two sessions share a CSRF token")
	}
	without := func(name string) url.Values {
		v := url.Values{}
		for k := range f {
			if k != name {
				v.Set(k, f.Get(k))
			}
		}
		return v
	}
	withCSRF := func(token string) url.Values {
		v := without(csrfField)
		v.Set(csrfField, token)
		return v
	}
	stranger := l.newBrowser(t) // no session at all

	cases := []struct {
		name string
		b    *browser
		form url.Values
		hdr  map[string]string
	}{
		{"cross-site Sec-Fetch-Site", b, f, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"same-site Sec-Fetch-Site", b, f, map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"foreign Origin", b, f, map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}},
		{"foreign Origin, same host other scheme", b, f, map[string]string{"Sec-Fetch-Site": "", "Origin": strings.Replace(l.admin, "http:", "https:", 1)}},
		{"null Origin", b, f, map[string]string{"Sec-Fetch-Site": "", "Origin": "null"}},
		{"foreign Origin, same-origin Sec-Fetch-Site", b, f, map[string]string{"Origin": "https://evil.example"}},
		{"missing CSRF token", b, without(csrfField), nil},
		{"empty CSRF token", b, withCSRF(""), nil},
		{"wrong CSRF token", b, withCSRF(otherToken(f.Get(csrfField))), nil},
		{"CSRF token of another session", b, withCSRF(otherForm.Get(csrfField)), nil},
		{"no session", stranger, f, nil},
		{"no session, Basic auth", stranger, f, map[string]string{"Authorization": "Basic " + basic("ops", testAdminToken)}},
		{"no session, bearer", stranger, f, map[string]string{"Authorization": "Bearer " + testAdminToken}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := c.b.post(t, "/auth/login", c.form, c.hdr)
			wantPage(t, a, http.StatusForbidden, "")
			if loc := a.header.Get("Location"); loc != "" {
				t.Fatalf("redirected to %q", loc)
			}
			if n := l.states.count(); n != 0 {
				t.Fatalf("%d logins started", n)
			}
		})
	}

	// Basic auth no longer opens the browser pages: no challenge, no page.
	a := stranger.do(t, "GET", "/auth/login?account=alice", nil, map[string]string{"Authorization": "Basic " + basic("ops", testAdminToken)})
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.header.Get("Location"), "/auth/signin?") || a.header.Get("WWW-Authenticate") != "" {
		t.Fatalf("Basic auth on the login page: %d %q %q", a.status, a.header.Get("Location"), a.header.Get("WWW-Authenticate"))
	}

	// A cross-site sign-in (login CSRF) sets no cookie.
	a = stranger.post(t, "/auth/signin", url.Values{"token": {testAdminToken}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	wantPage(t, a, http.StatusForbidden, "Cross-site")
	a = stranger.post(t, "/auth/signin", url.Values{"token": {testAdminToken}}, map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"})
	wantPage(t, a, http.StatusForbidden, "Cross-site")
	if a.header.Get("Set-Cookie") != "" || stranger.sessionCookie(t) != "" {
		t.Fatal("a refused sign-in set a cookie")
	}
	// A cross-site sign-out does not end the session.
	wantPage(t, b.post(t, "/auth/signout", url.Values{csrfField: {f.Get(csrfField)}}, map[string]string{"Sec-Fetch-Site": "cross-site"}),
		http.StatusForbidden, "Cross-site")
	// The real form, from the real page, still works.
	if a := b.post(t, "/auth/login", f, nil); a.status != http.StatusFound {
		t.Fatalf("the genuine form: %d %s", a.status, a.body)
	}
	// A user-initiated request (Sec-Fetch-Site: none) and a non-browser client
	// without those headers pass the origin check; they still need the token.
	// Chrome sends Origin: null with Sec-Fetch-Site: same-origin on a post from a
	// page with Referrer-Policy: no-referrer (these pages).
	for _, hdr := range []map[string]string{{"Sec-Fetch-Site": "none", "Origin": ""}, {"Sec-Fetch-Site": "", "Origin": ""},
		{"Sec-Fetch-Site": "same-origin", "Origin": "null"}} {
		if a := b.post(t, "/auth/login", f, hdr); a.status != http.StatusFound {
			t.Fatalf("%v: %d", hdr, a.status)
		}
	}
}

func TestSignIn(t *testing.T) {
	l := newLoginEnv(t)
	b := l.newBrowser(t)
	a := b.post(t, "/auth/signin", url.Values{"token": {"not-the-admin-token"}, "next": {"/auth/login?account=x"}}, nil)
	wantPage(t, a, http.StatusUnauthorized, "Wrong admin token")
	if a.header.Get("Set-Cookie") != "" || hiddenFields(a.body).Get("next") != "/auth/login?account=x" {
		t.Fatalf("failed sign-in: cookie %q, form %v", a.header.Get("Set-Cookie"), hiddenFields(a.body))
	}
	if loc := b.get(t, "/auth/login").header.Get("Location"); !strings.HasPrefix(loc, "/auth/signin") {
		t.Fatalf("not signed in, yet Location %q", loc)
	}

	// next only ever leads to a path of this host.
	for next, want := range map[string]string{
		"":                        "/auth/login",
		"/auth/login?account=bob": "/auth/login?account=bob",
		"//evil.example/x":        "/auth/login",
		"/\\evil.example":         "/auth/login",
		"https://evil.example/":   "/auth/login",
		"javascript:alert(1)":     "/auth/login",
		"auth/login":              "/auth/login",
		"/x\r\nSet-Cookie: a=b":   "/auth/login",
	} {
		a := b.post(t, "/auth/signin", url.Values{"token": {testAdminToken}, "next": {next}}, nil)
		if a.status != http.StatusSeeOther || a.header.Get("Location") != want {
			t.Errorf("next %q: %d → %q, want %q", next, a.status, a.header.Get("Location"), want)
		}
	}
	if hiddenFields(b.get(t, "/auth/signin?next=//evil.example").body).Get("next") != "/auth/login" {
		t.Fatal("the sign-in form keeps a foreign next")
	}

	// Signed in, /auth/login without an account asks for one (a GET form).
	a = b.get(t, "/auth/login")
	wantPage(t, a, http.StatusOK, `name="account"`)
	if !strings.Contains(a.body, `value="`+testScopes+`"`) {
		t.Fatalf("the account form does not offer AUTH_SCOPES: %s", a.body)
	}
}

// Sessions end after SessionTTL, and on sign-out; a copied cookie of an ended
// session opens nothing.
func TestSessionEnds(t *testing.T) {
	// The server checks the expiry itself too: Redis expires keys by its own clock.
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { client.Close() })
	for name, store := range map[string]func(c *clock) SessionStore{
		"memory": func(c *clock) SessionStore { return NewMemorySessionStore(c.Now) },
		"redis":  func(*clock) SessionStore { return NewRedisStateStore(client, "p:") },
	} {
		t.Run("expiry/"+name, func(t *testing.T) {
			c := newClock()
			e := newEnv(t, envOption{clock: c, admin: func(cfg *Config) {
				cfg.Login, cfg.RedirectURL, cfg.SessionTTL = &fakeLogin{}, "https://proxy.example/auth/callback", time.Hour
				cfg.Sessions = store(c)
			}})
			b := inProcessBrowser(t, e.h)
			a := b.post(t, "/auth/signin", url.Values{"token": {testAdminToken}}, nil)
			if ck := setCookie(t, a, sessionCookie); ck.MaxAge != 3600 {
				t.Fatalf("Max-Age %d, want the configured hour", ck.MaxAge)
			}
			c.Add(time.Hour - time.Second)
			_, f := b.confirm(t, "account=alice")
			c.Add(time.Second)
			if a := b.get(t, "/auth/login?account=alice"); a.status != http.StatusSeeOther {
				t.Fatalf("an expired session opened the page: %d", a.status)
			}
			wantPage(t, b.post(t, "/auth/login", f, nil), http.StatusForbidden, "expired")
		})
	}

	t.Run("sign-out", func(t *testing.T) {
		l := newLoginEnv(t)
		b := l.newBrowser(t)
		b.signIn(t)
		cookie := b.sessionCookie(t)
		_, f := b.confirm(t, "account=alice")
		// Sign-out needs the CSRF token (a forged sign-out is refused and changes nothing).
		wantPage(t, b.post(t, "/auth/signout", url.Values{}, nil), http.StatusForbidden, "Sign-out refused")
		b.confirm(t, "account=alice")
		a := b.post(t, "/auth/signout", url.Values{csrfField: {f.Get(csrfField)}}, nil)
		wantPage(t, a, http.StatusOK, "Signed out")
		if ck := setCookie(t, a, sessionCookie); ck.MaxAge >= 0 || ck.Value != "" {
			t.Fatalf("the cookie is not cleared: %+v", ck)
		}
		if b.sessionCookie(t) != "" {
			t.Fatal("the browser kept the cookie")
		}
		// The old cookie, put back, is dead: the session was ended on the server.
		thief := l.newBrowser(t)
		thief.setSessionCookie(t, cookie)
		if a := thief.get(t, "/auth/login?account=alice"); a.status != http.StatusSeeOther {
			t.Fatalf("a signed-out session opened the page: %d", a.status)
		}
		wantPage(t, thief.post(t, "/auth/login", f, nil), http.StatusForbidden, "")
		if n := l.states.count(); n != 0 {
			t.Fatalf("%d logins started", n)
		}
	})
}

func TestCookieSecure(t *testing.T) {
	pub, _ := url.Parse("https://admin.example.com")
	for name, c := range map[string]struct {
		public *url.URL
		tls    bool
		secure bool
	}{
		"plain http":         {nil, false, false},
		"TLS":                {nil, true, true},
		"PUBLIC_ADMIN_URL":   {pub, false, true},
		"http PUBLIC_ADMIN…": {&url.URL{Scheme: "http", Host: "admin.internal:9090"}, false, false},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOption{admin: func(cfg *Config) {
				cfg.Login, cfg.RedirectURL, cfg.PublicAdminURL = &fakeLogin{}, "https://proxy.example/auth/callback", c.public
			}})
			r := httptest.NewRequest("POST", "/auth/signin", strings.NewReader("token="+testAdminToken))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if c.tls {
				r.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			cookies := w.Result().Cookies()
			if w.Code != http.StatusSeeOther || len(cookies) != 1 {
				t.Fatalf("%d, cookies %v", w.Code, cookies)
			}
			ck := cookies[0]
			wantName := sessionCookie
			if c.secure {
				wantName = secureSessionCookie
			}
			if ck.Secure != c.secure || ck.Name != wantName || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Domain != "" {
				t.Fatalf("cookie %+v", ck)
			}
		})
	}

	// PUBLIC_ADMIN_URL's origin is the admin's own, also when the Host differs
	// (TLS ends at an ingress that forwards to the pod).
	e := newEnv(t, envOption{admin: func(cfg *Config) {
		cfg.Login, cfg.RedirectURL, cfg.PublicAdminURL = &fakeLogin{}, "https://proxy.example/auth/callback", pub
	}})
	b := inProcessBrowser(t, e.h)
	a := b.post(t, "/auth/signin", url.Values{"token": {testAdminToken}}, map[string]string{"Origin": "https://admin.example.com"})
	if a.status != http.StatusSeeOther {
		t.Fatalf("sign-in from PUBLIC_ADMIN_URL's origin: %d", a.status)
	}
	a = b.post(t, "/auth/signin", url.Values{"token": {testAdminToken}}, map[string]string{"Origin": "https://admin.example.com.evil.example"})
	wantPage(t, a, http.StatusForbidden, "Cross-site")
}

// The pages carry a strict policy that still lets their own style apply, and
// escape what they show.
func TestPageHeaders(t *testing.T) {
	l := newLoginEnv(t)
	b := l.newBrowser(t)
	b.signIn(t)
	if a := b.do(t, http.MethodPut, "/auth/login?account=alice", url.Values{}, nil); a.status != http.StatusMethodNotAllowed {
		t.Fatalf("PUT /auth/login: %d", a.status)
	}
	page, _ := b.confirm(t, "account=alice&scope=%3Cb%3Ebold+user-read-private")
	if strings.Contains(page.body, "<b>bold") || !strings.Contains(page.body, "&lt;b&gt;bold") {
		t.Fatalf("the scope is not escaped: %s", page.body)
	}
	emu := b.startLogin(t, "account=alice")
	for _, p := range []answer{b.get(t, "/auth/signin"), page, b.get(t, "/auth/login")} {
		csp := p.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Fatalf("CSP %q lacks %q", csp, want)
			}
		}
		style := p.body[strings.Index(p.body, "<style>")+len("<style>") : strings.Index(p.body, "</style>")]
		sum := sha256.Sum256([]byte(style))
		if !strings.Contains(csp, "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
			t.Fatalf("CSP %q does not allow the page's style", csp)
		}
		if strings.Contains(p.body, "<script") || p.header.Get("X-Frame-Options") != "DENY" {
			t.Fatal("script or frameable page")
		}
	}
	// The confirmation form's answer redirects to Spotify: form-action allows it.
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+emu.Scheme+"://"+emu.Host+";") {
		t.Fatalf("CSP %q does not allow the redirect to %s", csp, emu.Host)
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/auth/login": "/auth/login", "/auth/login?account=a&scope=b": "/auth/login?account=a&scope=b", "/": "/",
		"": "-", "//x": "-", "/\\x": "-", "http://x/": "-", "x": "-", "/a\nb": "-", "/a\x00": "-", "\\\\x": "-",
		"https:/x": "-", "/" + strings.Repeat("a", 2048): "-",
	} {
		if got := localPath(in, "-"); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// Two replicas behind one Service share sessions through Redis: a browser signed
// in on A is signed in on B, and a sign-out on B ends it on A. A replica with
// another admin token does not accept the session (rotating the token ends them).
func TestSessionsAcrossReplicas(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { client.Close() })
	shared := NewRedisStateStore(client, "stp:")
	withRedis := func(token string) func(*Config) {
		return func(cfg *Config) {
			cfg.Login, cfg.RedirectURL, cfg.States, cfg.AdminToken = &fakeLogin{}, "https://proxy.example/auth/callback", shared, token
		}
	}
	a := newEnv(t, envOption{admin: withRedis(testAdminToken)})
	bEnv := newEnv(t, envOption{admin: withRedis(testAdminToken), store: a.store, clock: a.clock})
	rotated := newEnv(t, envOption{admin: withRedis("another-admin-token-0123"), store: a.store, clock: a.clock})

	// One browser, and a load balancer that picks the replica.
	var target http.Handler = a.h
	b := newBrowser(t, "http://admin.test", handlerTransport{http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target.ServeHTTP(w, r)
	})})
	b.signIn(t)
	for _, k := range mr.Keys() {
		if strings.Contains(k, b.sessionCookie(t)) {
			t.Fatalf("the session id is a Redis key: %s", k)
		}
	}
	target = bEnv.h
	_, f := b.confirm(t, "account=alice")
	if loc := b.post(t, "/auth/login", f, nil).header.Get("Location"); loc == "" {
		t.Fatal("replica B refused A's session")
	}
	target = rotated.h
	if a := b.get(t, "/auth/login?account=alice"); a.status != http.StatusSeeOther {
		t.Fatalf("a replica with another admin token accepted the session: %d", a.status)
	}
	target = bEnv.h
	cookie := b.sessionCookie(t)
	wantPage(t, b.post(t, "/auth/signout", url.Values{csrfField: {f.Get(csrfField)}}, nil), http.StatusOK, "Signed out")
	b.setSessionCookie(t, cookie)
	target = a.h
	if a := b.get(t, "/auth/login?account=alice"); a.status != http.StatusSeeOther {
		t.Fatalf("replica A accepted a session signed out on B: %d", a.status)
	}
}

func TestRedisSessionStore(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer client.Close()
	s := NewRedisStateStore(client, "p:")
	ctx := context.Background()
	if err := s.SaveSession(ctx, "k1", []byte("d"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSession(ctx, "k1", []byte("x"), time.Hour); err == nil {
		t.Fatal("a session key was overwritten")
	}
	if !mr.Exists("p:session:k1") || mr.TTL("p:session:k1") != time.Hour {
		t.Fatalf("keys %v", mr.Keys())
	}
	for range 2 { // reading does not consume
		if d, err := s.Session(ctx, "k1"); err != nil || string(d) != "d" {
			t.Fatalf("%q %v", d, err)
		}
	}
	// A login state of the same name is another key.
	if _, err := s.Take(ctx, "k1"); !errors.Is(err, ErrStateNotFound) {
		t.Fatalf("Take of a session key: %v", err)
	}
	mr.FastForward(time.Hour)
	if _, err := s.Session(ctx, "k1"); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("expired: %v", err)
	}
	_ = s.SaveSession(ctx, "k2", []byte("d"), time.Hour)
	if err := s.DeleteSession(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "k2"); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("deleted: %v", err)
	}
	if err := s.DeleteSession(ctx, "k2"); err != nil {
		t.Fatalf("deleting a missing session: %v", err)
	}
	mr.SetError("down")
	if _, err := s.Session(ctx, "k1"); err == nil || errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("a store failure reads as %v", err)
	}
}

func TestMemorySessionStore(t *testing.T) {
	c := newClock()
	s := NewMemorySessionStore(c.Now)
	ctx := context.Background()
	_ = s.SaveSession(ctx, "k", []byte("d"), time.Minute)
	for range 2 {
		if d, err := s.Session(ctx, "k"); err != nil || string(d) != "d" {
			t.Fatalf("%q %v", d, err)
		}
	}
	c.Add(time.Minute)
	if _, err := s.Session(ctx, "k"); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("expired: %v", err)
	}
	_ = s.SaveSession(ctx, "k", []byte("d"), time.Minute)
	_ = s.DeleteSession(ctx, "k")
	if _, err := s.Session(ctx, "k"); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("deleted: %v", err)
	}
}

// A failing session store fails closed: 503, no login, and no secret in the page.
func TestSessionStoreDown(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	e := newEnv(t, envOption{admin: func(cfg *Config) {
		cfg.Login, cfg.RedirectURL, cfg.States = &fakeLogin{}, "https://proxy.example/auth/callback", NewRedisStateStore(client, "p:")
	}})
	b := inProcessBrowser(t, e.h)
	b.signIn(t)
	_, f := b.confirm(t, "account=alice")
	mr.SetError("down")
	wantPage(t, b.get(t, "/auth/login?account=alice"), http.StatusServiceUnavailable, "try again")
	wantPage(t, b.post(t, "/auth/login", f, nil), http.StatusServiceUnavailable, "try again")
	wantPage(t, b.post(t, "/auth/signin", url.Values{"token": {testAdminToken}}, nil), http.StatusServiceUnavailable, "try again")
}

// listOnly is a Tokens whose List reads a Store directly (the rest is unused).
type listOnly struct {
	Tokens
	st tokenstore.Store
}

func (l listOnly) List(ctx context.Context, cursor string, limit int) ([]tokenstore.Record, string, error) {
	return l.st.List(ctx, cursor, limit)
}

// The confirmation page and show_dialog depend on finding exactly the account's
// record through List, on both stores, among neighbours that sort next to it.
func TestLinkedLookup(t *testing.T) {
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { client.Close() })
	codec, err := tokenstore.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	file, err := tokenstore.OpenFileStore(filepath.Join(t.TempDir(), "tokens.json"), codec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { file.Close() })
	stored := []string{"alic", "alicd", "alice", "alice-", "alice.b", "alicf", "Alice", "-", "zz"}
	for name, st := range map[string]tokenstore.Store{"file": file, "redis": tokenstore.NewRedisStore(client, "t:", codec)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for _, id := range stored {
				if _, err := st.Put(ctx, tokenstore.Record{Account: id, RefreshToken: "RT-" + id, Status: tokenstore.StatusOK}, 0); err != nil {
					t.Fatal(err)
				}
			}
			s := New(Config{Tokens: listOnly{st: st}, AdminToken: testAdminToken})
			for _, id := range append(stored, "alicee", "alicc", "ALICE", "0", ".", "zzz", "a") {
				rec, ok, err := s.linked(ctx, id)
				want := false
				for _, x := range stored {
					want = want || x == id
				}
				if err != nil || ok != want || (ok && rec.Account != id) {
					t.Errorf("linked(%q) = %q, %v, %v; want found=%v", id, rec.Account, ok, err, want)
				}
			}
		})
	}
}
