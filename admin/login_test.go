package admin

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyauth"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

const (
	testClientID     = "client-id-for-tests"
	testClientSecret = "client-secret-for-tests"
	testScopes       = "user-read-private user-modify-playback-state"
)

func basic(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// spyStates is a StateStore that lets a test read what was saved (the verifier).
type spyStates struct {
	StateStore
	mu    sync.Mutex
	saved map[string]loginState
}

func (s *spyStates) Save(ctx context.Context, state string, data []byte, ttl time.Duration) error {
	var st loginState
	if err := json.Unmarshal(data, &st); err != nil {
		return err
	}
	if ttl != 10*time.Minute {
		return errors.New("login states must live 10 minutes")
	}
	s.mu.Lock()
	s.saved[state] = st
	s.mu.Unlock()
	return s.StateStore.Save(ctx, state, data, ttl)
}

func (s *spyStates) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.saved)
}

func (s *spyStates) get(state string) (loginState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.saved[state]
	return st, ok
}

// loginEnv is a replica with the login flow enabled against the Spotify emulator,
// both served over real HTTP.
type loginEnv struct {
	*env
	emu     *spotifyemu.Emulator
	states  *spyStates
	admin   string // base URL of the admin listener
	client  *http.Client
	browser *browser // signed in, for startLogin
}

func newLoginEnv(t *testing.T) *loginEnv {
	t.Helper()
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
	states := &spyStates{StateStore: NewMemoryStateStore(c.Now), saved: map[string]loginState{}}
	e := newEnv(t, envOption{clock: c, admin: func(cfg *Config) {
		cfg.Login, cfg.RedirectURL, cfg.Scopes, cfg.States = auth, adminURL+"/auth/callback", testScopes, states
	}})
	adminSrv.Config.Handler = e.h
	adminSrv.Start()
	t.Cleanup(adminSrv.Close)
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(client.CloseIdleConnections)
	return &loginEnv{env: e, emu: emu, states: states, admin: adminURL, client: client}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (l *loginEnv) get(t *testing.T, u string, auth string) answer {
	t.Helper()
	r, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	resp, err := l.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// startLogin runs /auth/login as a signed-in browser (confirmation page, then its
// form) and returns Spotify's authorize URL and the state saved.
func (l *loginEnv) startLogin(t *testing.T, query string) (*url.URL, string, loginState) {
	t.Helper()
	if l.browser == nil {
		l.browser = l.newBrowser(t)
		l.browser.signIn(t)
	}
	loc := l.browser.startLogin(t, query)
	state := loc.Query().Get("state")
	st, ok := l.states.get(state)
	if !ok {
		t.Fatalf("no state saved for the redirect's state")
	}
	return loc, state, st
}

// authorize asks the emulator's authorize page and returns the callback URL it
// redirects to.
func (l *loginEnv) authorize(t *testing.T, loc *url.URL, extra string) string {
	t.Helper()
	u := *loc
	if extra != "" {
		u.RawQuery += "&" + extra
	}
	a := l.get(t, u.String(), "")
	if a.status != http.StatusFound {
		t.Fatalf("authorize: status %d: %s", a.status, a.body)
	}
	cb := a.header.Get("Location")
	if !strings.HasPrefix(cb, l.admin+"/auth/callback?") {
		t.Fatalf("authorize redirected to %q", cb)
	}
	return cb
}

func wantPage(t *testing.T, a answer, status int, text string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	if !strings.Contains(a.body, text) {
		t.Fatalf("page lacks %q: %s", text, a.body)
	}
	for h, want := range map[string]string{
		"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "Content-Type": "text/html; charset=utf-8",
	} {
		if got := a.header.Get(h); got != want {
			t.Fatalf("%s: %q, want %q", h, got, want)
		}
	}
	if csp := a.header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Fatalf("Content-Security-Policy %q", csp)
	}
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestLoginFlow(t *testing.T) {
	l := newLoginEnv(t)
	loc, state, st := l.startLogin(t, "account=alice")

	q := loc.Query()
	want := map[string]string{
		"response_type": "code", "client_id": testClientID, "redirect_uri": l.admin + "/auth/callback",
		"scope": testScopes, "code_challenge_method": "S256", "code_challenge": s256(st.Verifier),
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("authorize URL %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if raw, err := base64.RawURLEncoding.DecodeString(state); err != nil || len(raw) != 32 {
		t.Errorf("state is not 32 random bytes in base64url: %v", err)
	}
	if len(st.Verifier) < 43 || len(st.Verifier) > 128 || st.Account != "alice" || st.Scope != testScopes {
		t.Errorf("saved state %+v", st)
	}

	l.clock.Add(time.Minute)
	cb := l.authorize(t, loc, "")
	a := l.get(t, cb, "")
	wantPage(t, a, http.StatusOK, "Account alice linked")

	rec, ok := l.record(t, "alice")
	now := l.clock.Now()
	if !ok || rec.RefreshToken == "" || rec.AccessToken == "" || rec.Status != tokenstore.StatusOK ||
		!rec.AuthorizedAt.Equal(now) || !rec.ObtainedAt.Equal(now) || rec.Scope != testScopes {
		t.Fatalf("stored %v authorized %v obtained %v scope %q", rec, rec.AuthorizedAt, rec.ObtainedAt, rec.Scope)
	}
	if !l.emu.RefreshTokenLive(rec.RefreshToken) || !l.emu.AccessTokenValid(rec.AccessToken) {
		t.Fatal("the stored tokens are not the emulator's")
	}
	if got := refreshes(l.m, "login", "success"); got != 1 {
		t.Fatalf("login successes %v", got)
	}

	// The state is single use: a replayed callback changes nothing.
	wantPage(t, l.get(t, cb, ""), http.StatusBadRequest, "expired or already used")
	if again, _ := l.record(t, "alice"); again.Version != rec.Version {
		t.Fatalf("replay stored again (version %d → %d)", rec.Version, again.Version)
	}
	if n := l.emu.Stats().CodeExchanges; n != 1 {
		t.Fatalf("%d code exchanges, want 1", n)
	}

	// The linked account works through the admin API.
	m := decodeToken(t, l.do(t, get("alice")))
	if m["access_token"] != rec.AccessToken {
		t.Fatalf("GET token %v", m)
	}

	// A scope parameter overrides AUTH_SCOPES.
	loc, _, st = l.startLogin(t, "account=bob&scope=streaming")
	if loc.Query().Get("scope") != "streaming" || st.Scope != "streaming" {
		t.Fatalf("scope %q", loc.Query().Get("scope"))
	}
}

func TestLoginDenied(t *testing.T) {
	l := newLoginEnv(t)
	loc, _, _ := l.startLogin(t, "account=alice")
	cb := l.authorize(t, loc, "emulator_deny=1")
	if !strings.Contains(cb, "error=access_denied") {
		t.Fatalf("callback %q", cb)
	}
	wantPage(t, l.get(t, cb, ""), http.StatusForbidden, "access denied by the user")
	if _, ok := l.record(t, "alice"); ok {
		t.Fatal("a denied login stored a token")
	}
	wantPage(t, l.get(t, cb, ""), http.StatusBadRequest, "expired or already used") // consumed
	if got := refreshes(l.m, "login", "success") + refreshes(l.m, "login", "error") + refreshes(l.m, "login", "invalid_grant"); got != 0 {
		t.Fatalf("a denied login counted %v token calls", got)
	}
}

func TestLoginBadCode(t *testing.T) {
	l := newLoginEnv(t)
	_, state, _ := l.startLogin(t, "account=alice")
	a := l.get(t, l.admin+"/auth/callback?code=forged-code&state="+url.QueryEscape(state), "")
	wantPage(t, a, http.StatusBadGateway, "invalid_grant")
	if strings.Contains(a.body, "forged-code") {
		t.Fatal("the page echoes the code")
	}
	if _, ok := l.record(t, "alice"); ok {
		t.Fatal("a failed exchange stored a token")
	}
	if got := refreshes(l.m, "login", "invalid_grant"); got != 1 {
		t.Fatalf("login invalid_grant %v", got)
	}
}

func TestLoginBadRequests(t *testing.T) {
	l := newLoginEnv(t)
	b := l.newBrowser(t)
	b.signIn(t)
	wantPage(t, b.get(t, "/auth/login?account="), http.StatusBadRequest, "account")
	wantPage(t, b.get(t, "/auth/login?account=a%2Fb"), http.StatusBadRequest, "account")
	wantPage(t, b.get(t, "/auth/login?account=a&scope=%22x%22"), http.StatusBadRequest, "scope")
	// The form is checked again when posted.
	_, f := b.confirm(t, "account=alice")
	f.Set("account", "a/b")
	wantPage(t, b.post(t, "/auth/login", f, nil), http.StatusBadRequest, "account")
	f.Set("account", "alice")
	f.Set("scope", `"x"`)
	wantPage(t, b.post(t, "/auth/login", f, nil), http.StatusBadRequest, "scope")
	if n := l.states.count(); n != 0 {
		t.Fatalf("%d states saved by bad requests", n)
	}
	for _, q := range []string{"", "?code=abc", "?code=abc&state=unknown", "?state=", "?error=access_denied&state=unknown"} {
		wantPage(t, l.get(t, l.admin+"/auth/callback"+q, ""), http.StatusBadRequest, "expired or already used")
	}

	// A state with no code is consumed and refused.
	_, state, _ := l.startLogin(t, "account=alice")
	wantPage(t, l.get(t, l.admin+"/auth/callback?state="+state, ""), http.StatusBadRequest, "no authorization code")

	// Other authorize errors name the OAuth error, escaped.
	_, state, _ = l.startLogin(t, "account=alice")
	a := l.get(t, l.admin+"/auth/callback?error=invalid_scope&state="+state, "")
	wantPage(t, a, http.StatusBadGateway, "invalid_scope")
	_, state, _ = l.startLogin(t, "account=alice")
	a = l.get(t, l.admin+"/auth/callback?error=%3Cscript%3E&state="+state, "")
	if a.status != http.StatusBadGateway || strings.Contains(a.body, "<script>") {
		t.Fatalf("status %d, body %s", a.status, a.body)
	}
}

func TestLoginStateExpires(t *testing.T) {
	l := newLoginEnv(t)
	loc, _, _ := l.startLogin(t, "account=alice")
	cb := l.authorize(t, loc, "")
	l.clock.Add(10*time.Minute + time.Second)
	wantPage(t, l.get(t, cb, ""), http.StatusBadRequest, "expired or already used")
	if n := l.emu.Stats().CodeExchanges; n != 0 {
		t.Fatalf("an expired login exchanged its code (%d)", n)
	}
}

func TestCallbackHeadDoesNotConsume(t *testing.T) {
	l := newLoginEnv(t)
	loc, _, _ := l.startLogin(t, "account=alice")
	cb := l.authorize(t, loc, "")
	resp, err := l.client.Head(cb)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("HEAD: %d", resp.StatusCode)
	}
	wantPage(t, l.get(t, cb, ""), http.StatusOK, "linked")
}

// fakeLogin is a Login whose exchange answers what the test says.
type fakeLogin struct {
	tok tokenstore.Token
	err error
}

func (f *fakeLogin) AuthCodeURL(state, verifier, scope string) string {
	return "https://accounts.example/authorize?" + url.Values{"state": {state}, "code_challenge": {s256(verifier)}, "scope": {scope}}.Encode()
}

func (f *fakeLogin) Exchange(context.Context, string, string) (tokenstore.Token, error) {
	return f.tok, f.err
}

func TestLoginExchangeFailures(t *testing.T) {
	fl := &fakeLogin{}
	e := newEnv(t, envOption{admin: func(c *Config) { c.Login, c.RedirectURL = fl, "https://proxy.example/auth/callback" }})
	b := inProcessBrowser(t, e.h)
	b.signIn(t)
	login := func() string { return b.startLogin(t, "account=alice").Query().Get("state") }
	cases := []struct {
		name   string
		err    error
		tok    tokenstore.Token
		result string
		text   string
	}{
		{"network", errors.New("dial tcp: connection refused"), tokenstore.Token{}, "error", "(error)"},
		{"invalid_client", &spotifyauth.Error{Status: 401, Code: "invalid_client"}, tokenstore.Token{}, "error", "invalid_client"},
		{"no refresh token", nil, tokenstore.Token{AccessToken: "AT-x", Expiry: e.clock.Now().Add(time.Hour)}, "error", "(error)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fl.tok, fl.err = c.tok, c.err
			before := refreshes(e.m, "login", c.result)
			w := serve(t, e.h, req{method: "GET", path: "/auth/callback?code=c0de&state=" + login(), auth: "-"})
			wantStatus(t, w, http.StatusBadGateway)
			if !strings.Contains(w.Body.String(), c.text) {
				t.Fatalf("page lacks %q: %s", c.text, w.Body.String())
			}
			if got := refreshes(e.m, "login", c.result); got != before+1 {
				t.Fatalf("login %s: %v → %v", c.result, before, got)
			}
		})
	}
	if _, ok := e.record(t, "alice"); ok {
		t.Fatal("a failed login stored a token")
	}

	// A login older than the stored token (a clock step back) is refused, not stored.
	wantStatus(t, e.do(t, put("alice", `{"refresh_token":"RT-newer"}`)), http.StatusNoContent)
	state := login()
	e.clock.Add(-time.Hour)
	fl.tok, fl.err = tokenstore.Token{RefreshToken: "RT-login", AccessToken: "AT-login", Expiry: e.clock.Now().Add(time.Hour)}, nil
	w := serve(t, e.h, req{method: "GET", path: "/auth/callback?code=c0de&state=" + state, auth: "-"})
	wantStatus(t, w, http.StatusConflict)
	if rec, _ := e.record(t, "alice"); rec.RefreshToken != "RT-newer" {
		t.Fatal("an older login replaced a newer token")
	}
}
