package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"

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

// startLogin: GET /auth/login?account=ID[&scope=…] (behind Basic auth) redirects to
// Spotify's authorize page with a fresh state and a PKCE S256 challenge.
//
// The state is not bound to a cookie: the admin may hand the authorize link to the
// Spotify user, who completes it in another browser.
func (s *Server) startLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		page(w, http.StatusMethodNotAllowed, "Method not allowed", "Use GET.")
		return
	}
	q := r.URL.Query()
	id := q.Get("account")
	if !tokenstore.ValidAccount(id) {
		page(w, http.StatusBadRequest, "Invalid account",
			"The account parameter must be 1 to 128 characters of A-Z a-z 0-9 . _ @ -.")
		return
	}
	scope := s.cfg.Scopes
	if q.Has("scope") {
		scope = q.Get("scope")
	}
	if !scopeChars(scope) {
		page(w, http.StatusBadRequest, "Invalid scope", "The scope must be scope names separated by spaces.")
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
	s.log.Info("login started", "account", id, "scope", scope, "remote", r.RemoteAddr)
	securePage(w.Header())
	http.Redirect(w, r, s.cfg.Login.AuthCodeURL(state, st.Verifier, scope), http.StatusFound)
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

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex"><title>{{.Title}} · spotify-token-proxy</title></head>
<body><h1>{{.Title}}</h1><p>{{.Message}}</p></body></html>
`))

// securePage sets the headers of every browser-facing answer: nothing cached, no
// script or resource loads, not framed, no Referer leaking the callback's query.
func securePage(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
}

// page answers a small HTML page; title and message are escaped by html/template.
func page(w http.ResponseWriter, status int, title, message string) {
	h := w.Header()
	securePage(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, struct{ Title, Message string }{title, message})
}
