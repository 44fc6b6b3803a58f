package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyauth"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// loginState is what a StateStore keeps between /auth/login and /auth/callback.
type loginState struct {
	Account  string `json:"account"`
	Verifier string `json:"verifier"`
	Scope    string `json:"scope,omitempty"`
}

// newState returns 32 random bytes, base64url: unguessable, and the only thing that
// identifies a login at the callback.
func newState() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand.Read crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// loginForm: GET /auth/login[?account=ID[&scope=…]]. Without a session it sends the
// browser to the sign-in form (next = this page). Without an account it asks for
// one; with one it shows what would happen: the account, the scopes and, when the
// account is already linked, its record and a warning that its token is replaced.
// Nothing changes before the confirmation is posted.
func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	id, err := s.session(r)
	if err != nil {
		s.log.Error("reading an admin session failed", "error", err)
		page(w, http.StatusServiceUnavailable, "Login unavailable", "The session store failed; try again.")
		return
	}
	if id == "" {
		securePage(w.Header(), "")
		http.Redirect(w, r, "/auth/signin?"+url.Values{"next": {r.URL.RequestURI()}}.Encode(), http.StatusSeeOther)
		return
	}
	q := r.URL.Query()
	if !q.Has("account") {
		render(w, http.StatusOK, "account", "", pageData{Title: "Link a Spotify account", Scope: s.cfg.Scopes, CSRF: s.csrfToken(id)})
		return
	}
	account, scope, ok := s.loginParams(w, q)
	if !ok {
		return
	}
	rec, linked, err := s.linked(r.Context(), account)
	if err != nil {
		s.log.Error("reading an account for a login failed", "account", account, "error", err)
		page(w, http.StatusServiceUnavailable, "Login unavailable", "The token store failed; try again.")
		return
	}
	d := pageData{Title: "Link account " + account, Account: account, Scope: scope, Scopes: strings.Fields(scope), CSRF: s.csrfToken(id)}
	if linked {
		d.Title = "Re-link account " + account
		d.Linked = &linkedAccount{
			Status: string(rec.Status), Scopes: strings.Fields(rec.Scope),
			AuthorizedAt: when(rec.AuthorizedAt), RefreshedAt: when(rec.RefreshedAt), ReauthAt: when(rec.ReauthAt),
		}
		if d.Linked.Status == "" {
			d.Linked.Status = statusCorrupt
		}
	}
	render(w, http.StatusOK, "confirm", s.authorizeOrigin, d)
}

// loginParams validates account and scope (default AUTH_SCOPES), answering 400.
func (s *Server) loginParams(w http.ResponseWriter, v url.Values) (account, scope string, ok bool) {
	account = v.Get("account")
	if !tokenstore.ValidAccount(account) {
		page(w, http.StatusBadRequest, "Invalid account",
			"The account parameter must be 1 to 128 characters of A-Z a-z 0-9 . _ @ -.")
		return "", "", false
	}
	scope = s.cfg.Scopes
	if v.Has("scope") {
		scope = strings.Join(strings.Fields(v.Get("scope")), " ")
	}
	if !scopeChars(scope) {
		page(w, http.StatusBadRequest, "Invalid scope", "The scope must be scope names separated by spaces.")
		return "", "", false
	}
	return account, scope, true
}

// linked reads the account's record. The Tokens interface has no single read, so
// this lists one record from just before the id: list cursors are account ids
// and pages are in byte order, and "\xff" sorts after every character of an id.
func (s *Server) linked(ctx context.Context, account string) (tokenstore.Record, bool, error) {
	last := len(account) - 1
	cursor := account[:last] + string([]byte{account[last] - 1, 0xff})
	recs, _, err := s.cfg.Tokens.List(ctx, cursor, 1)
	if err != nil || len(recs) == 0 || recs[0].Account != account {
		return tokenstore.Record{}, false, err
	}
	return recs[0], true, nil
}

// startLogin: POST /auth/login (account, scope, csrf_token) from the confirmation
// page saves a fresh state and PKCE verifier and redirects (302) to Spotify's
// authorize page. It needs a session and its CSRF token, and refuses cross-site
// requests. Re-linking an account adds show_dialog=true, so that Spotify shows
// its consent screen instead of silently approving again.
//
// The state is not bound to a cookie: the admin may hand the authorize link to the
// Spotify user, who completes it in another browser.
func (s *Server) startLogin(w http.ResponseWriter, r *http.Request) {
	if s.refuseCrossSite(w, r) || !parseForm(w, r) {
		return
	}
	sid, err := s.session(r)
	if err != nil {
		s.log.Error("reading an admin session failed", "error", err)
		page(w, http.StatusServiceUnavailable, "Login unavailable", "The session store failed; try again.")
		return
	}
	if sid == "" {
		s.log.Warn("login refused: no admin session", "remote", r.RemoteAddr)
		render(w, http.StatusForbidden, "message", "", pageData{Title: "Sign in first",
			Message: "Your admin session is missing or has expired.", Link: "/auth/signin", LinkText: "Sign in"})
		return
	}
	if !s.csrfOK(sid, r.PostForm.Get(csrfField)) {
		s.log.Warn("login refused: missing or wrong CSRF token", "remote", r.RemoteAddr)
		page(w, http.StatusForbidden, "Login refused", "The form is stale or came from elsewhere. Start again from /auth/login.")
		return
	}
	id, scope, ok := s.loginParams(w, r.PostForm)
	if !ok {
		return
	}
	_, relink, err := s.linked(r.Context(), id)
	if err != nil {
		s.log.Error("reading an account for a login failed", "account", id, "error", err)
		page(w, http.StatusServiceUnavailable, "Login unavailable", "The token store failed; try again.")
		return
	}
	st := loginState{Account: id, Verifier: oauth2.GenerateVerifier(), Scope: scope}
	data, err := json.Marshal(st)
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	state := newState()
	if err := s.cfg.States.Save(r.Context(), state, data, LoginStateTTL); err != nil {
		s.log.Error("saving a login state failed", "account", id, "error", err)
		page(w, http.StatusServiceUnavailable, "Login unavailable", "The login could not be started; try again.")
		return
	}
	target := s.cfg.Login.AuthCodeURL(state, st.Verifier, scope)
	if relink {
		target = withShowDialog(target)
	}
	s.log.Info("login started", "account", id, "scope", scope, "relink", relink, "remote", r.RemoteAddr)
	securePage(w.Header(), "")
	http.Redirect(w, r, target, http.StatusFound)
}

// withShowDialog adds show_dialog=true to an authorize URL.
func withShowDialog(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u // AuthCodeURL builds it from a parsed URL: cannot happen
	}
	q := p.Query()
	q.Set("show_dialog", "true")
	p.RawQuery = q.Encode()
	return p.String()
}

// origin returns scheme://host of an absolute URL, "" otherwise.
func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" || p.Host == "" {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// callback: GET /auth/callback?code=…&state=… (or ?error=…&state=…) finishes a login.
// No authentication: the single-use state identifies the login.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		// A HEAD (a link preview, a crawler) must not consume the state.
		w.Header().Set("Allow", http.MethodGet)
		page(w, http.StatusMethodNotAllowed, "Method not allowed", "Use GET.")
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	var st loginState
	data, err := s.take(r.Context(), state)
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	if err != nil {
		if !errors.Is(err, ErrStateNotFound) {
			s.log.Error("reading a login state failed", "error", err)
			page(w, http.StatusServiceUnavailable, "Login unavailable", "The login could not be checked; start again.")
			return
		}
		s.log.Info("login callback refused: state unknown, expired or already used", "remote", r.RemoteAddr)
		page(w, http.StatusBadRequest, "Login expired or already used",
			"This login link has expired or was already used. Start again from /auth/login.")
		return
	}
	if e := q.Get("error"); e != "" || q.Has("error") {
		if e == "access_denied" {
			s.log.Info("login denied by the user", "account", st.Account)
			page(w, http.StatusForbidden, "Access denied", "The login was refused: access denied by the user. Account "+st.Account+" was not linked.")
			return
		}
		code := oauthCode(e)
		s.log.Warn("login refused by Spotify's authorize page", "account", st.Account, "oauth_error", code)
		page(w, http.StatusBadGateway, "Login failed", "Spotify refused the authorisation ("+code+"): account "+st.Account+" was not linked.")
		return
	}
	code := q.Get("code")
	if code == "" {
		page(w, http.StatusBadRequest, "Login failed", "The callback carries no authorization code. Start again from /auth/login.")
		return
	}

	// Detached from the request: once the code is spent, a browser that gives up
	// must not make us drop the tokens it bought.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), exchangeTimeout)
	defer cancel()
	start := s.now()
	tok, err := s.cfg.Login.Exchange(ctx, code, st.Verifier)
	took := s.now().Sub(start)
	if err == nil && tok.RefreshToken == "" {
		err = errors.New("the token endpoint answered without a refresh token")
	}
	if err != nil {
		result, ecode := metrics.ResultError, "error"
		if errors.Is(err, tokenstore.ErrInvalidGrant) {
			result, ecode = metrics.ResultInvalidGrant, "invalid_grant"
		}
		var ae *spotifyauth.Error
		if errors.As(err, &ae) && ae.Code != "" {
			ecode = oauthCode(ae.Code)
		}
		s.m.Refresh(metrics.TriggerLogin, result, took)
		s.log.Warn("login code exchange failed", "account", st.Account, "error", err)
		page(w, http.StatusBadGateway, "Login failed",
			"Spotify's token endpoint refused the authorization code ("+ecode+"): account "+st.Account+" was not linked. Start again from /auth/login.")
		return
	}
	s.m.Refresh(metrics.TriggerLogin, metrics.ResultSuccess, took)

	now := s.now()
	scope := tok.Scope
	if scope == "" {
		scope = st.Scope
	}
	d := tokenstore.Delivery{
		RefreshToken: tok.RefreshToken, AccessToken: tok.AccessToken, Expiry: tok.Expiry, Scope: scope,
		ObtainedAt: now, AuthorizedAt: now,
	}
	if tok.Expiry.IsZero() {
		d.AccessToken = "" // without an expiry it would be stored as expired anyway
	}
	switch err := s.cfg.Tokens.Deliver(ctx, st.Account, d); {
	case err == nil:
	case errors.Is(err, tokenstore.ErrStaleDelivery):
		s.log.Warn("login result refused: the stored token is newer", "account", st.Account)
		page(w, http.StatusConflict, "Login not stored",
			"Account "+st.Account+" already holds a newer token; nothing was changed.")
		return
	default:
		s.log.Error("storing a login result failed; the user must log in again", "account", st.Account, "error", err)
		page(w, http.StatusServiceUnavailable, "Login not stored",
			"The token store failed: account "+st.Account+" was not linked. Start again from /auth/login.")
		return
	}
	s.log.Info("account linked", "account", st.Account, "scope", scope)
	if s.cfg.Events != nil {
		s.cfg.Events.Linked(ctx, st.Account, now)
	}
	page(w, http.StatusOK, "Account linked", "Account "+st.Account+" linked. You can close this window.")
}

// take consumes a state. An empty or oversized state is unknown without a store call.
func (s *Server) take(ctx context.Context, state string) ([]byte, error) {
	if state == "" || len(state) > 512 {
		return nil, ErrStateNotFound
	}
	return s.cfg.States.Take(ctx, state)
}

// oauthCode keeps an OAuth error code fit to show: RFC 6749 codes are printable
// ASCII; anything else (or anything long) is replaced.
func oauthCode(c string) string {
	if c == "" || len(c) > 64 || !tokenChars(c) {
		return "error"
	}
	return c
}
