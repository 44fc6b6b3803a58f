package admin

import (
	"context"
	"embed"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// The operator page: GET / on the admin listener, behind the admin sign-in. It
// lists the accounts (paged by the store's cursor, filtered by status), and per
// account links to the login confirmation (re-link), makes a login link to hand
// to the user, and deletes after a confirmation. Pages are server-rendered from
// embedded templates with one embedded stylesheet; an optional embedded script
// adds copy buttons, and everything works without it.

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/operator.css static/operator.js
var staticFS embed.FS

var operatorTemplates = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// operatorCSP: only this origin's stylesheet and script, forms posted here, never
// framed.
const operatorCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (s *Server) operatorRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.operatorPage)
	mux.HandleFunc("GET /accounts/{id}/delete", s.deleteForm)
	mux.HandleFunc("POST /accounts/{id}/delete", s.deleteFromPage)
	mux.HandleFunc("POST /accounts/{id}/login-link", s.loginLink)
	mux.HandleFunc("GET /static/{file}", serveStatic)
}

// operatorHeaders are the headers of every operator page.
func operatorHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", operatorCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
}

func renderOperator(w http.ResponseWriter, status int, name string, d any) {
	operatorHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = operatorTemplates.ExecuteTemplate(w, name, d)
}

// serveStatic serves the page's stylesheet and script.
func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	ctype := map[string]string{"operator.css": "text/css; charset=utf-8", "operator.js": "text/javascript; charset=utf-8"}[name]
	data, err := staticFS.ReadFile("static/" + name)
	if ctype == "" || err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	_, _ = w.Write(data)
}

// signedIn returns the session of a page view; without one it sends the browser to
// the sign-in form, which brings it back here (ok false: answered).
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, err := s.session(r)
	if err != nil {
		s.log.Error("reading an admin session failed", "error", err)
		page(w, http.StatusServiceUnavailable, "Operator page unavailable", "The session store failed; try again.")
		return "", false
	}
	if id == "" {
		operatorHeaders(w.Header())
		http.Redirect(w, r, "/auth/signin?"+url.Values{"next": {r.URL.RequestURI()}}.Encode(), http.StatusSeeOther)
		return "", false
	}
	return id, true
}

// postAllowed checks a form post of the operator page: same site, a readable
// form, a session and its CSRF token (ok false: answered).
func (s *Server) postAllowed(w http.ResponseWriter, r *http.Request, what string) bool {
	if s.refuseCrossSite(w, r) || !parseForm(w, r) {
		return false
	}
	sid, err := s.session(r)
	if err != nil {
		s.log.Error("reading an admin session failed", "error", err)
		page(w, http.StatusServiceUnavailable, what+" unavailable", "The session store failed; try again.")
		return false
	}
	if sid == "" {
		s.log.Warn(what+" refused: no admin session", "remote", r.RemoteAddr)
		render(w, http.StatusForbidden, "message", "", pageData{Title: "Sign in first",
			Message: "Your admin session is missing or has expired.", Link: "/auth/signin?next=/", LinkText: "Sign in"})
		return false
	}
	if !s.csrfOK(sid, r.PostForm.Get(csrfField)) {
		s.log.Warn(what+" refused: missing or wrong CSRF token", "remote", r.RemoteAddr)
		page(w, http.StatusForbidden, what+" refused", "The form is stale or came from elsewhere. Start again from the operator page.")
		return false
	}
	return true
}

// pathAccount is the {id} of an operator path, answering 400 when invalid.
func pathAccount(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !tokenstore.ValidAccount(id) {
		page(w, http.StatusBadRequest, "Invalid account", "An account id is 1 to 128 characters of A-Z a-z 0-9 . _ @ -.")
		return "", false
	}
	return id, true
}

type filterOption struct {
	Value, Label string
	Selected     bool
}

// operatorData is what operator.html shows; every value is escaped.
type operatorData struct {
	Title    string
	CSRF     string
	Filter   string
	Filters  []filterOption
	Cursor   string
	List     accountPage
	Panels   panels
	Notice   string
	Lifetime string
}

// operatorPage: GET /[?status=…][&after=ID][&deleted=ID].
func (s *Server) operatorPage(w http.ResponseWriter, r *http.Request) {
	sid, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	filter, cursor := q.Get("status"), q.Get("after")
	if !validStatusFilter(filter) {
		page(w, http.StatusBadRequest, "Invalid filter", "status must be ok, reauth_required or corrupt.")
		return
	}
	if len(cursor) > maxCursor {
		page(w, http.StatusBadRequest, "Invalid page", "The page cursor is too long.")
		return
	}
	list, err := s.listPage(r.Context(), filter, cursor)
	if err != nil {
		if r.Context().Err() == nil {
			s.log.Error("operator page: listing accounts failed", "error", err)
		}
		page(w, http.StatusServiceUnavailable, "Operator page unavailable", "The token store failed; try again.")
		return
	}
	d := operatorData{Title: "Accounts", CSRF: s.csrfToken(sid), Filter: filter, Cursor: cursor, List: list,
		Panels: s.panels(r.Context()), Lifetime: "none (REFRESH_TOKEN_LIFETIME=0)"}
	if lt := s.cfg.RefreshTokenLifetime; lt > 0 {
		d.Lifetime = strings.TrimSuffix(strings.TrimSuffix(lt.String(), "0s"), "0m") + " (" + strconv.Itoa(int(lt/(24*time.Hour))) + " days) after the user authorised the app"
	}
	d.Filters = append(d.Filters, filterOption{Value: "", Label: "all", Selected: filter == ""})
	for _, f := range statusFilters {
		d.Filters = append(d.Filters, filterOption{Value: f, Label: f, Selected: filter == f})
	}
	if del := q.Get("deleted"); tokenstore.ValidAccount(del) {
		d.Notice = "Account " + del + " was deleted."
	}
	renderOperator(w, http.StatusOK, "operator", d)
}

// deleteData is what delete.html and loginlink.html show.
type deleteData struct {
	Title   string
	CSRF    string
	Account string
	Row     *accountRow // nil: no such account
	Link    string      // loginlink.html: the authorize URL
	Expires string      // loginlink.html: when the link stops working
}

// deleteForm: GET /accounts/{id}/delete asks for a confirmation; nothing changes.
func (s *Server) deleteForm(w http.ResponseWriter, r *http.Request) {
	sid, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	id, ok := pathAccount(w, r)
	if !ok {
		return
	}
	rec, found, err := s.linked(r.Context(), id)
	if err != nil {
		s.log.Error("operator page: reading an account failed", "account", id, "error", err)
		page(w, http.StatusServiceUnavailable, "Delete unavailable", "The token store failed; try again.")
		return
	}
	d := deleteData{Title: "Delete account " + id, CSRF: s.csrfToken(sid), Account: id}
	if found {
		row := s.row(rec, s.now())
		d.Row = &row
	}
	renderOperator(w, http.StatusOK, "delete", d)
}

// deleteFromPage: POST /accounts/{id}/delete (csrf_token) deletes the account and
// sends the browser back to the list (303).
func (s *Server) deleteFromPage(w http.ResponseWriter, r *http.Request) {
	if !s.postAllowed(w, r, "Delete") {
		return
	}
	id, ok := pathAccount(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	if err := s.delete(ctx, id); err != nil {
		s.log.Error("account deletion failed", "account", id, "error", err)
		page(w, http.StatusServiceUnavailable, "Delete failed", "The token store failed: account "+id+" was not deleted. Try again.")
		return
	}
	s.log.Info("account deleted from the operator page", "account", id, "remote", r.RemoteAddr)
	operatorHeaders(w.Header())
	http.Redirect(w, r, "/?"+url.Values{"deleted": {id}}.Encode(), http.StatusSeeOther)
}

// loginLink: POST /accounts/{id}/login-link (csrf_token) starts a login for the
// account with the default scopes and shows Spotify's authorize URL to copy and
// hand to the user, who may finish it in their own browser (the state is not
// bound to a cookie). Single use, valid for LoginStateTTL. A re-link asks Spotify
// to show its consent screen again, as the confirmation page's login does.
func (s *Server) loginLink(w http.ResponseWriter, r *http.Request) {
	if !s.postAllowed(w, r, "Login link") {
		return
	}
	id, ok := pathAccount(w, r)
	if !ok {
		return
	}
	_, relink, err := s.linked(r.Context(), id)
	if err != nil {
		s.log.Error("reading an account for a login failed", "account", id, "error", err)
		page(w, http.StatusServiceUnavailable, "Login link unavailable", "The token store failed; try again.")
		return
	}
	link, err := s.newLoginLink(r.Context(), id, s.cfg.Scopes, relink)
	if err != nil {
		s.log.Error("saving a login state failed", "account", id, "error", err)
		page(w, http.StatusServiceUnavailable, "Login link unavailable", "The login could not be started; try again.")
		return
	}
	s.log.Info("login link made", "account", id, "relink", relink, "remote", r.RemoteAddr)
	sid, _ := s.session(r) // postAllowed found it
	renderOperator(w, http.StatusOK, "loginlink", deleteData{
		Title: "Login link for " + id, CSRF: s.csrfToken(sid), Account: id, Link: link,
		Expires: when(s.now().Add(LoginStateTTL)),
	})
}

// newLoginLink saves a login state for account (as POST /auth/login does) and
// returns Spotify's authorize URL for it.
func (s *Server) newLoginLink(ctx context.Context, account, scope string, relink bool) (string, error) {
	st := loginState{Account: account, Verifier: oauth2.GenerateVerifier(), Scope: scope}
	data, err := json.Marshal(st)
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	state := newState()
	if err := s.cfg.States.Save(ctx, state, data, LoginStateTTL); err != nil {
		return "", err
	}
	link := s.cfg.Login.AuthCodeURL(state, st.Verifier, scope)
	if relink {
		link = withShowDialog(link)
	}
	return link, nil
}
