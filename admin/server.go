package admin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/apierror"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// Tokens is what the admin API needs of the token source (*tokenstore.Source
// implements it). Its methods are called concurrently from many requests.
type Tokens interface {
	// Fresh returns a token with some life left, refreshing it now if needed.
	Fresh(ctx context.Context, account string) (*tokenstore.Credential, error)
	// Deliver stores a token; tokenstore.ErrStaleDelivery when it is older than the stored one.
	Deliver(ctx context.Context, account string, d tokenstore.Delivery) error
	// Delete removes an account (deleting a missing one is not an error).
	Delete(ctx context.Context, account string) error
	// List pages through the accounts ordered by id; "" as next cursor when done.
	List(ctx context.Context, cursor string, limit int) ([]tokenstore.Record, string, error)
	// Ping tells whether the store answers.
	Ping(ctx context.Context) error
}

// Login is the authorization-code flow with PKCE (*spotifyauth.Client implements it).
type Login interface {
	// AuthCodeURL is the authorize URL for state, the PKCE S256 challenge of
	// verifier and scope (space separated; "" for none).
	AuthCodeURL(state, verifier, scope string) string
	// Exchange trades an authorization code and its verifier for tokens. A code
	// rejected by the token endpoint wraps tokenstore.ErrInvalidGrant.
	Exchange(ctx context.Context, code, verifier string) (tokenstore.Token, error)
}

// Emitter records account events (*events.Log implements it). Its methods log
// their own failures: an event that cannot be stored does not fail the request.
type Emitter interface {
	// Linked: a login, or an admin delivery of an account that had no record.
	Linked(ctx context.Context, account string, authorizedAt time.Time)
	// Deleted: DELETE /admin/v1/accounts/{id}.
	Deleted(ctx context.Context, account string)
}

// Config configures a Server. Only Tokens is required.
type Config struct {
	Tokens Tokens
	// Gatherer is served on /metrics (nil: no /metrics).
	Gatherer prometheus.Gatherer
	// AdminToken guards /admin/v1 (Bearer) and the browser sign-in of /auth. Empty:
	// /admin/v1 and /auth/* answer 404.
	AdminToken string
	// Login, RedirectURL (AUTH_REDIRECT_URL) and AdminToken all set enable the login
	// flow on /auth/*; otherwise those paths answer 404.
	Login       Login
	RedirectURL string
	// Scopes is the default scope of a login (AUTH_SCOPES).
	Scopes string
	// States keeps login states (default NewMemoryStateStore(Now)).
	States StateStore
	// Sessions keeps admin browser sessions. nil: States when it keeps sessions too
	// (the Redis state store does, so replicas share sessions), else
	// NewMemorySessionStore(Now).
	Sessions SessionStore
	// SessionTTL is how long an admin browser session lasts (ADMIN_SESSION_TTL;
	// 0: DefaultSessionTTL).
	SessionTTL time.Duration
	// PublicAdminURL is the admin pages' public base (PUBLIC_ADMIN_URL; nil: none).
	// Its origin is accepted as the admin's own, and https makes the session
	// cookie Secure (TLS ends at a proxy in front).
	PublicAdminURL *url.URL
	// Pprof serves Go's runtime profiles (net/http/pprof) under /debug/pprof/,
	// behind the admin token like /admin/v1 (PPROF). Without AdminToken they are
	// not served.
	Pprof   bool
	Metrics *metrics.Metrics // nil: nothing recorded
	Logger  *slog.Logger     // nil: discarded
	Now     func() time.Time // nil: time.Now

	// RefreshTokenLifetime is how long a user's authorisation lasts
	// (REFRESH_TOKEN_LIFETIME): the operator page shows the time left until
	// authorized_at + this. 0: no limit.
	RefreshTokenLifetime time.Duration
	// RateLimits and Events feed the operator page's panels; nil shows
	// "not configured" (see page_panels.go).
	RateLimits RateLimitState
	EventLog   EventLog
	// Events is told of linked and deleted accounts (nil: no events); EventsHandler
	// serves GET /admin/v1/events behind the bearer token (nil: 404).
	Events        Emitter
	EventsHandler http.Handler
}

// Timeouts of the admin listener's own calls.
const (
	// readyTimeout bounds the store ping of /readyz (probes have short deadlines).
	readyTimeout = 2 * time.Second
	// writeTimeout bounds a store write (delivery, deletion), which is detached from
	// the request so that a client hanging up does not interrupt it halfway.
	writeTimeout = 10 * time.Second
	// exchangeTimeout bounds the code exchange and storing of a login.
	exchangeTimeout = 30 * time.Second
	// LoginStateTTL is how long a login may take from /auth/login to /auth/callback.
	LoginStateTTL = 10 * time.Minute
)

// realm of the WWW-Authenticate challenges.
const realm = `realm="spotify-token-proxy"`

// Server is the admin listener's handler: health, readiness, metrics, the admin
// API and the login flow. It is safe for concurrent use.
type Server struct {
	cfg      Config
	log      *slog.Logger
	m        *metrics.Metrics
	now      func() time.Time
	hasAdmin bool
	adminSum [sha256.Size]byte
	login    bool
	// sessionKey signs session store keys and CSRF tokens; derived from the admin
	// token, so that rotating it ends every session.
	sessionKey      [sha256.Size]byte
	sessionTTL      time.Duration
	authorizeOrigin string // Spotify's accounts origin: the confirmation form redirects there

	draining  atomic.Bool
	unhealthy atomic.Bool // the last /readyz saw a failing store (logs transitions only)
	handler   http.Handler
}

// New builds a Server from cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.States == nil {
		cfg.States = NewMemoryStateStore(cfg.Now)
	}
	if cfg.Sessions == nil {
		if ss, ok := cfg.States.(SessionStore); ok {
			cfg.Sessions = ss
		} else {
			cfg.Sessions = NewMemorySessionStore(cfg.Now)
		}
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	s := &Server{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, now: cfg.Now, sessionTTL: cfg.SessionTTL}
	if cfg.AdminToken != "" {
		s.hasAdmin = true
		s.adminSum = sha256.Sum256([]byte(cfg.AdminToken))
		mac := hmac.New(sha256.New, []byte(cfg.AdminToken))
		mac.Write([]byte("spotify-token-proxy admin session key v1"))
		copy(s.sessionKey[:], mac.Sum(nil))
		s.login = cfg.Login != nil && cfg.RedirectURL != ""
	}
	if s.login {
		s.authorizeOrigin = origin(cfg.Login.AuthCodeURL("", "", ""))
	}
	s.handler = s.routes()
	return s
}

// Handler returns the admin listener's handler (its own ServeMux).
func (s *Server) Handler() http.Handler { return s.handler }

// SetDraining makes /readyz answer 503 from now on (the process is shutting down).
func (s *Server) SetDraining() { s.draining.Store(true) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
			ErrorHandling: promhttp.ContinueOnError,
			// OpenMetrics when the scraper asks for it: it carries the exemplars
			// (trace ids) of the duration histograms.
			EnableOpenMetrics: true,
		}))
	}
	if s.hasAdmin {
		// Authentication comes before routing: without the token, every path under
		// /admin/v1/ is 401, so the API's shape is not disclosed.
		api := http.NewServeMux()
		api.HandleFunc("PUT /admin/v1/accounts/{id}/token", s.putToken)
		api.HandleFunc("GET /admin/v1/accounts/{id}/token", s.getToken)
		api.HandleFunc("DELETE /admin/v1/accounts/{id}", s.deleteAccount)
		api.HandleFunc("GET /admin/v1/accounts", s.listAccounts)
		if s.cfg.EventsHandler != nil {
			api.Handle("GET /admin/v1/events", s.cfg.EventsHandler)
		}
		mux.Handle("/admin/v1/", s.requireBearer(api))
		if s.cfg.Pprof {
			mux.Handle("/debug/pprof/", s.requireBearer(pprofHandler()))
		}
	}
	if s.login {
		// Browser pages: a session cookie, never Basic auth (browsers cache Basic
		// credentials and send them with cross-site requests).
		mux.HandleFunc("GET /auth/signin", s.signInForm)
		mux.HandleFunc("POST /auth/signin", s.signIn)
		mux.HandleFunc("POST /auth/signout", s.signOut)
		mux.HandleFunc("GET /auth/login", s.loginForm)
		mux.HandleFunc("POST /auth/login", s.startLogin)
		mux.HandleFunc("GET /auth/callback", s.callback)
		s.operatorRoutes(mux) // the operator page needs the sign-in
	}
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	plain(w, http.StatusOK, "ok")
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		plain(w, http.StatusServiceUnavailable, "draining: shutting down")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.cfg.Tokens.Ping(ctx); err != nil {
		if !s.unhealthy.Swap(true) {
			s.log.Warn("not ready: the token store does not answer", "error", err)
		}
		// The error may name hosts; the body stays generic.
		plain(w, http.StatusServiceUnavailable, "not ready: the token store does not answer")
		return
	}
	if s.unhealthy.Swap(false) {
		s.log.Info("ready: the token store answers again")
	}
	plain(w, http.StatusOK, "ok")
}

func plain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body + "\n"))
}

// secretOK compares a presented secret with the admin token in constant time. Both
// are hashed first, so neither the length nor the content leaks through timing.
func (s *Server) secretOK(presented string) bool {
	sum := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(sum[:], s.adminSum[:]) == 1
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func (s *Server) requireBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token, ok := bearer(r.Header.Get("Authorization")); !ok || !s.secretOK(token) {
			s.log.Warn("admin API request refused: missing or wrong bearer token",
				"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", "Bearer "+realm)
			apierror.Write(w, http.StatusUnauthorized, "ADMIN_UNAUTHORIZED", "missing or wrong admin bearer token", 0)
			return
		}
		next.ServeHTTP(w, r)
	})
}
