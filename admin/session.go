package admin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Admin browser sessions.
//
// A session is a random id (32 bytes, base64url) in an HttpOnly, SameSite=Strict
// cookie, kept server side in a SessionStore until it expires (Config.SessionTTL)
// or is signed out. The store key is an HMAC of the id under a key derived from the
// admin token, so the store never holds a usable cookie value and rotating the
// admin token ends every session at once. The CSRF token of a session is another
// HMAC of its id: bound to the session, and checked without storing anything.

// DefaultSessionTTL is how long an admin browser session lasts by default (ADMIN_SESSION_TTL).
const DefaultSessionTTL = 12 * time.Hour

// ErrSessionNotFound: the session is unknown, expired or signed out.
var ErrSessionNotFound = errors.New("admin: session not found")

// SessionStore keeps admin browser sessions. Keys are HMACs of the session ids
// (hex), never the ids. Implementations are safe for concurrent use. With several
// replicas behind one Service the store must be shared (RedisStateStore implements
// it), since the next request of a browser may reach another replica.
type SessionStore interface {
	// SaveSession keeps data under key for ttl.
	SaveSession(ctx context.Context, key string, data []byte, ttl time.Duration) error
	// Session returns the data under key, (nil, ErrSessionNotFound) when it is
	// unknown or expired. It does not consume the session.
	Session(ctx context.Context, key string) ([]byte, error)
	// DeleteSession forgets key (sign-out); a missing key is not an error.
	DeleteSession(ctx context.Context, key string) error
}

// DefaultMaxSessions bounds a memory session store; when full the session closest
// to its expiry is dropped (that browser signs in again).
const DefaultMaxSessions = 1000

// NewMemorySessionStore returns the SessionStore of a single instance. now is the
// clock (nil: time.Now).
func NewMemorySessionStore(now func() time.Time) SessionStore {
	return memorySessions{newMemoryStateStore(now, DefaultMaxSessions)}
}

type memorySessions struct{ m *memoryStates }

func (s memorySessions) SaveSession(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	return s.m.Save(ctx, key, data, ttl)
}

func (s memorySessions) Session(_ context.Context, key string) ([]byte, error) {
	now := s.m.now()
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	e, ok := s.m.byState[key]
	if !ok || !e.expires.After(now) {
		return nil, ErrSessionNotFound
	}
	return append([]byte(nil), e.data...), nil
}

func (s memorySessions) DeleteSession(_ context.Context, key string) error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if e, ok := s.m.byState[key]; ok {
		s.m.remove(e)
	}
	return nil
}

// sessionData is what a SessionStore keeps. The expiry is checked against the
// Server's clock as well as by the store's TTL.
type sessionData struct {
	Expires time.Time `json:"expires"`
}

// Cookie names: the __Host- prefix (Secure, Path=/, no Domain) keeps sibling
// hosts from planting the cookie; browsers only accept it over https.
const (
	sessionCookie       = "stp-admin-session"
	secureSessionCookie = "__Host-stp-admin-session"
	csrfField           = "csrf_token"
	// maxFormBody bounds the forms of the /auth pages.
	maxFormBody = 16 << 10
)

// mac is HMAC-SHA256 under the session key of purpose and value.
func (s *Server) mac(purpose, value string) []byte {
	h := hmac.New(sha256.New, s.sessionKey[:])
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(value))
	return h.Sum(nil)
}

func (s *Server) sessionStoreKey(id string) string { return hex.EncodeToString(s.mac("session", id)) }

// csrfToken is the CSRF token of a session.
func (s *Server) csrfToken(id string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", id))
}

// csrfOK compares a presented CSRF token with the session's in constant time.
func (s *Server) csrfOK(id, presented string) bool {
	return subtle.ConstantTimeCompare([]byte(presented), []byte(s.csrfToken(id))) == 1
}

// secure tells whether cookies must be Secure: the request came over TLS, or the
// admin pages are published over https (PUBLIC_ADMIN_URL; TLS ends at a proxy).
func (s *Server) secure(r *http.Request) bool {
	return r.TLS != nil || (s.cfg.PublicAdminURL != nil && s.cfg.PublicAdminURL.Scheme == "https")
}

func (s *Server) cookieName(r *http.Request) string {
	if s.secure(r) {
		return secureSessionCookie
	}
	return sessionCookie
}

// session returns the id of the request's valid session; "" when there is none
// (no cookie, unknown, expired, signed out). An error means the store failed.
func (s *Server) session(r *http.Request) (string, error) {
	c, err := r.Cookie(s.cookieName(r))
	if err != nil {
		return "", nil
	}
	id := c.Value
	if len(id) != 43 || !tokenChars(id) { // 32 bytes, base64url
		return "", nil
	}
	data, err := s.cfg.Sessions.Session(r.Context(), s.sessionStoreKey(id))
	if errors.Is(err, ErrSessionNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var sd sessionData
	if err := json.Unmarshal(data, &sd); err != nil || !sd.Expires.After(s.now()) {
		return "", nil
	}
	return id, nil
}

// startSession saves a new session and sets its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request) error {
	id := newState()
	data, err := json.Marshal(sessionData{Expires: s.now().Add(s.sessionTTL)})
	if err != nil {
		panic(err) // a time: cannot fail
	}
	if err := s.cfg.Sessions.SaveSession(r.Context(), s.sessionStoreKey(id), data, s.sessionTTL); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(r), Value: id, Path: "/", MaxAge: int(s.sessionTTL / time.Second),
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode,
	})
	return nil
}

func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode,
	})
}

// crossSite tells whether a state-changing request comes from another site.
// A browser's Sec-Fetch-Site is authoritative: only same-origin and none (typed
// by the user) pass. With it, Origin may be "null": browsers send that on posts
// from a page with Referrer-Policy: no-referrer, such as these pages. Any other
// Origin must be the admin's own. Clients that send neither header (curl) pass;
// they still need a session and its CSRF token.
func (s *Server) crossSite(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return origin != "" && origin != "null" && !s.ownOrigin(r, origin)
	case "":
		return origin != "" && !s.ownOrigin(r, origin)
	default:
		return true
	}
}

// ownOrigin: PUBLIC_ADMIN_URL's origin, or the origin the request was sent to.
func (s *Server) ownOrigin(r *http.Request, origin string) bool {
	if u := s.cfg.PublicAdminURL; u != nil && strings.EqualFold(origin, u.Scheme+"://"+u.Host) {
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return strings.EqualFold(origin, scheme+"://"+r.Host)
}

// refuseCrossSite answers 403 to a cross-site state-changing request.
func (s *Server) refuseCrossSite(w http.ResponseWriter, r *http.Request) bool {
	if !s.crossSite(r) {
		return false
	}
	s.log.Warn("cross-site request refused", "method", r.Method, "path", r.URL.Path,
		"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "origin", truncate(r.Header.Get("Origin"), 100), "remote", r.RemoteAddr)
	page(w, http.StatusForbidden, "Cross-site request refused",
		"This request came from another site. Open the proxy's admin pages directly.")
	return true
}

func truncate(v string, n int) string {
	if len(v) > n {
		return v[:n] + "…"
	}
	return v
}

// parseForm reads a form body of at most maxFormBody bytes.
func parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		page(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return false
	}
	return true
}

// localPath returns next when it is a path on this host ("/…", not "//…" nor
// "/\…", no control characters), else def: a sign-in never sends the browser
// elsewhere. A path that starts with one slash has no scheme and no host.
func localPath(next, def string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\x00\r\n\t") {
		return def
	}
	return next
}

// signInForm: GET /auth/signin[?next=/local/path] shows the sign-in form.
func (s *Server) signInForm(w http.ResponseWriter, r *http.Request) {
	render(w, http.StatusOK, "signin", "", pageData{Title: "Sign in", Next: localPath(r.URL.Query().Get("next"), defaultNext)})
}

// defaultNext is where a sign-in without next lands.
const defaultNext = "/auth/login"

// signIn: POST /auth/signin (token, next) checks the admin token, starts a session
// and sends the browser to next (303).
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	if s.refuseCrossSite(w, r) || !parseForm(w, r) {
		return
	}
	next := localPath(r.PostForm.Get("next"), defaultNext)
	if !s.secretOK(r.PostForm.Get("token")) {
		s.log.Warn("admin sign-in refused: wrong admin token", "remote", r.RemoteAddr)
		render(w, http.StatusUnauthorized, "signin", "", pageData{Title: "Sign in", Next: next, Error: "Wrong admin token."})
		return
	}
	if err := s.startSession(w, r); err != nil {
		s.log.Error("saving an admin session failed", "error", err)
		page(w, http.StatusServiceUnavailable, "Sign-in unavailable", "The session could not be saved; try again.")
		return
	}
	s.log.Info("admin signed in", "remote", r.RemoteAddr)
	securePage(w.Header(), "")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut: POST /auth/signout (csrf_token) ends the session.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if s.refuseCrossSite(w, r) || !parseForm(w, r) {
		return
	}
	id, err := s.session(r)
	if err != nil {
		s.log.Error("reading an admin session failed", "error", err)
		page(w, http.StatusServiceUnavailable, "Sign-out unavailable", "The session store failed; try again.")
		return
	}
	if id == "" {
		s.clearSessionCookie(w, r)
		render(w, http.StatusOK, "message", "", pageData{Title: "Signed out", Message: "You are not signed in.", Link: "/auth/signin", LinkText: "Sign in"})
		return
	}
	if !s.csrfOK(id, r.PostForm.Get(csrfField)) {
		s.log.Warn("admin sign-out refused: missing or wrong CSRF token", "remote", r.RemoteAddr)
		page(w, http.StatusForbidden, "Sign-out refused", "The form is stale or came from elsewhere. Sign out from the proxy's own pages.")
		return
	}
	if err := s.cfg.Sessions.DeleteSession(r.Context(), s.sessionStoreKey(id)); err != nil {
		s.log.Error("deleting an admin session failed", "error", err)
		page(w, http.StatusServiceUnavailable, "Sign-out unavailable", "The session store failed; try again.")
		return
	}
	s.clearSessionCookie(w, r)
	s.log.Info("admin signed out", "remote", r.RemoteAddr)
	render(w, http.StatusOK, "message", "", pageData{Title: "Signed out", Message: "Your admin session has ended.", Link: "/auth/signin", LinkText: "Sign in again"})
}
