package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// pageLogin is a Login whose authorize page is at accounts.test; it never exchanges.
type pageLogin struct{}

func (pageLogin) AuthCodeURL(state, verifier, scope string) string {
	return "https://accounts.test/authorize?" + url.Values{"state": {state}, "scope": {scope}, "code_challenge": {s256(verifier)}}.Encode()
}

func (pageLogin) Exchange(context.Context, string, string) (tokenstore.Token, error) {
	return tokenstore.Token{}, errors.New("pageLogin does not exchange")
}

// countingTokens counts the store reads of the page and can make Ping fail.
type countingTokens struct {
	Tokens
	mu       sync.Mutex
	lists    int
	listed   int // records returned
	pingFail bool
}

func (c *countingTokens) List(ctx context.Context, cursor string, limit int) ([]tokenstore.Record, string, error) {
	recs, next, err := c.Tokens.List(ctx, cursor, limit)
	c.mu.Lock()
	c.lists++
	c.listed += len(recs)
	c.mu.Unlock()
	return recs, next, err
}

func (c *countingTokens) Ping(ctx context.Context) error {
	c.mu.Lock()
	fail := c.pingFail
	c.mu.Unlock()
	if fail {
		return errors.New("redis: connection refused")
	}
	return c.Tokens.Ping(ctx)
}

// reads returns and resets the List calls and records listed so far.
func (c *countingTokens) reads() (calls, records int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls, records = c.lists, c.listed
	c.lists, c.listed = 0, 0
	return calls, records
}

// pageEnv is an admin Server with the sign-in and the operator page, served in
// process, and a signed-in browser.
type pageEnv struct {
	*env
	tokens *countingTokens
	states *spyStates
	b      *browser
}

func newPageEnv(t *testing.T, opt func(*Config)) *pageEnv {
	t.Helper()
	p := &pageEnv{}
	c := newClock()
	p.states = &spyStates{StateStore: NewMemoryStateStore(c.Now), saved: map[string]loginState{}}
	p.env = newEnv(t, envOption{clock: c, admin: func(cfg *Config) {
		p.tokens = &countingTokens{Tokens: cfg.Tokens}
		cfg.Tokens = p.tokens
		cfg.Login, cfg.RedirectURL, cfg.Scopes, cfg.States = pageLogin{}, "http://admin.test/auth/callback", testScopes, p.states
		cfg.RefreshTokenLifetime = 4380 * time.Hour
		if opt != nil {
			opt(cfg)
		}
	}})
	p.b = inProcessBrowser(t, p.h)
	return p
}

// signIn signs the browser in through the form, coming back to next.
func (p *pageEnv) signIn(t *testing.T, next string) {
	t.Helper()
	a := p.b.post(t, "/auth/signin", url.Values{"token": {testAdminToken}, "next": {next}}, nil)
	if a.status != http.StatusSeeOther || a.header.Get("Location") != next {
		t.Fatalf("sign-in: %d → %q", a.status, a.header.Get("Location"))
	}
}

// seed stores rec as it is (status, times, trigger).
func (p *pageEnv) seed(t testing.TB, rec tokenstore.Record) {
	t.Helper()
	if rec.RefreshToken == "" && !rec.ClientCredentials {
		rec.RefreshToken = "RT-secret-" + rec.Account
	}
	if _, err := p.store.Put(context.Background(), rec, 0); err != nil {
		t.Fatal(err)
	}
}

var rowRE = regexp.MustCompile(`(?s)<tr id="account-([^"]+)" data-account="[^"]+">(.*?)</tr>`)

// rows returns the accounts table's rows of a page: account id → row HTML.
func rows(body string) (ids []string, html map[string]string) {
	html = map[string]string{}
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
		html[m[1]] = m[2]
	}
	return ids, html
}

var nextRE = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)

// nextPage returns the Next page link of a page ("" when there is none).
func nextPage(body string) string {
	m := nextRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

// wantOperatorPage checks the status, a text and the security headers of an
// operator page.
func wantOperatorPage(t *testing.T, a answer, status int, text string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	if !strings.Contains(a.body, text) {
		t.Fatalf("page lacks %q: %s", text, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	for h, want := range map[string]string{
		"Content-Security-Policy": operatorCSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
		"Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
	} {
		if got := a.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	csp := a.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "script-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
}

// otherToken is tok with its first character changed: a wrong token of the same
// shape (replacing it with a fixed character would give tok back when tok starts
// with that character).
func otherToken(tok string) string {
	if tok == "" {
		return "x"
	}
	c := byte('x')
	if tok[0] == c {
		c = 'y'
	}
	return string(c) + tok[1:]
}
