// Package admin is the proxy's admin listener (ADMIN_ADDR): health, readiness,
// Prometheus metrics, the admin API and the built-in Spotify login.
//
//	GET    /healthz                          200 "ok" while the process runs
//	GET    /readyz                           200 when the store answers; 503 when not, and after SetDraining
//	GET    /metrics                          Prometheus text format, or OpenMetrics with exemplars when asked (Config.Gatherer)
//	PUT    /admin/v1/accounts/{id}/token     store a delivered token: 204, 400, 409 (stale), 413
//	GET    /admin/v1/accounts/{id}/token     a fresh access token (never the refresh token)
//	GET    /admin/v1/accounts                accounts without secrets, paged (?cursor=…&limit=…); refresh_token_expires_at
//	                                         is authorized_at + Config.RefreshTokenLifetime (null: either unknown or 0)
//	DELETE /admin/v1/accounts/{id}           204, also when there was nothing
//	GET    /auth/signin[?next=/path]         sign-in form (admin token)
//	POST   /auth/signin                      token, next: session cookie, 303 to next; 401 on a wrong token
//	POST   /auth/signout                     csrf_token: ends the session
//	GET    /auth/login                       (session) a form asking for the account and scopes
//	GET    /auth/login?account=ID[&scope=…]  (session) confirmation page; without a session 303 to /auth/signin?next=…
//	POST   /auth/login                       (session + csrf_token) account, scope: 302 to Spotify's authorize page
//	GET    /auth/callback                    exchanges the code, stores the account, HTML page
//	GET    /debug/pprof/…                    Go's runtime profiles (net/http/pprof), only with Config.Pprof (PPROF)
//	GET    /[?status=…][&after=ID]           (session) the operator page; without a session 303 to /auth/signin?next=…
//	GET    /accounts/{id}/delete             (session) asks to confirm a deletion; changes nothing
//	POST   /accounts/{id}/delete             (session + csrf_token) deletes, 303 to /?deleted=ID
//	POST   /accounts/{id}/login-link         (session + csrf_token) a login link (authorize URL) to hand to the user
//	GET    /static/operator.css|operator.js  the operator page's stylesheet and optional script
//
// Authentication. /admin/v1 needs "Authorization: Bearer <ADMIN_TOKEN>"; a missing or
// wrong token gets 401 with a WWW-Authenticate challenge (realm
// "spotify-token-proxy"). Secrets are compared as SHA-256 sums (CSRF tokens directly)
// in constant time. Authentication comes before routing: without the token every
// path under /admin/v1/ is 401. /debug/pprof/ takes the same Bearer token. Without
// an ADMIN_TOKEN, /admin/v1, /auth and /debug/pprof answer 404; the login flow (all
// of /auth) also needs a Login client and a redirect URL.
//
// Browser sessions. The /auth pages take no Authorization header at all: Basic
// credentials, cached by a browser, would be sent along with cross-site requests.
// The admin signs in on /auth/signin with the admin token and gets a session
// cookie: HttpOnly, SameSite=Strict, Path=/, Secure (and named with the __Host-
// prefix) when the request came over TLS or PublicAdminURL is https. A session is a
// random 32-byte id kept in a SessionStore until SessionTTL (ADMIN_SESSION_TTL,
// default 12h) or POST /auth/signout. The store key is an HMAC-SHA256 of the id under
// a key derived from the admin token, so the store holds no usable cookie and
// rotating the token ends every session. The CSRF token of a session is another
// HMAC of its id: bound to the session, nothing stored. The Redis state store also
// keeps sessions, so replicas behind one Service share them; a failing store
// answers 503 (fail closed). ?next= only takes a path on this host.
//
// A login needs two steps: GET /auth/login?account=… shows the account, the scopes
// and, when the account is already linked, its status, when it was linked and
// refreshed, and a warning that continuing replaces its token; only the posted form
// (session + CSRF token) starts the flow. Re-linking adds show_dialog=true to the
// authorize URL, so Spotify shows its consent screen again. POSTs to /auth/signin,
// /auth/signout and /auth/login are refused with 403 when cross-site: a
// Sec-Fetch-Site other than same-origin or none, or an Origin other than the
// admin's own (PublicAdminURL's, or the request's scheme and Host; "null" is taken
// only with Sec-Fetch-Site: same-origin, which is what browsers send from pages with
// Referrer-Policy: no-referrer).
//
// Errors of the admin API use Spotify's error shape (apierror.Write), with reasons
// ADMIN_UNAUTHORIZED, ADMIN_BAD_REQUEST, ADMIN_BODY_TOO_LARGE, ADMIN_STALE_DELIVERY,
// ADMIN_CONFLICT, ADMIN_STORE_UNAVAILABLE, and the proxy's PROXY_NO_TOKEN (404
// here), PROXY_REAUTH_REQUIRED (401) and PROXY_TOKEN_UNAVAILABLE (503 with
// Retry-After) for GET token. Messages name the faulty field, never a value.
//
// Deliveries. The body of PUT …/token is one JSON object (at most 64 KiB):
//
//	{"refresh_token": "…",                  required
//	 "access_token": "…",                   optional; then expires_in or expires_at is required
//	 "expires_in": 3600,                     integer seconds from now, or
//	 "expires_at": "2026-11-25T13:00:00Z",   RFC 3339, or integer unix seconds
//	 "scope": "user-read-private",
//	 "obtained_at": "…",                     RFC 3339 or unix seconds; default now
//	 "authorized_at": "…"}                   RFC 3339 or unix seconds; default obtained_at
//
// A delivery whose obtained_at is older than the stored record's is refused with 409
// and changes nothing, so a late or replayed delivery never replaces a rotated token.
// Times more than 5 minutes in the future are refused (they would make every later
// delivery stale). Unknown fields and trailing data are refused.
//
// Login. POST /auth/login saves {account, PKCE verifier, scope} under a random state (32
// bytes, base64url) in a StateStore for 10 minutes and redirects to Spotify. The
// callback takes the state (single use: a replay, an unknown or an expired state
// gets 400), exchanges the code with the verifier and stores the tokens with
// obtained_at = authorized_at = now. The state alone identifies the login, so the
// Spotify user may finish it in another browser than the admin's. With several
// replicas the StateStore must be shared. Pages are small, server-rendered and
// escaped by html/template, without JavaScript, and sent with Cache-Control:
// no-store, Content-Security-Policy: default-src 'none'; style-src 'sha256-…' (their
// one stylesheet); form-action 'self' (plus the accounts origin on the confirmation
// page: its form's answer redirects there, and Chrome checks form-action on
// redirects); frame-ancestors 'none'; base-uri 'none', X-Frame-Options: DENY and
// Referrer-Policy: no-referrer.
//
// Operator page. Where the sign-in exists (the same conditions as /auth), GET /
// shows the accounts: id, status, scope, access-token expiry, last refresh and its
// trigger, when the user authorised the app, the refresh token's remaining life
// (authorized_at + Config.RefreshTokenLifetime, REFRESH_TOKEN_LIFETIME; "unknown"
// for records without authorized_at, such as a seeded SPOTIFY_REFRESH_TOKEN) and
// the last error (the record keeps no error text: reauth_required and its time are
// what it knows). Pages follow the store's List cursor: an unfiltered page is one
// List of 50 records, whatever the number of accounts; the store has no index by
// status, so a filtered page reads at most 4 List pages of 250 and then offers to
// go on from where it stopped. Per account: Re-link opens the login confirmation
// (GET /auth/login?account=…), Login link starts a login and shows the authorize
// URL in a read-only input, Delete asks for a confirmation first. The page also
// shows the store's readiness and two panels fed by small interfaces, RateLimitState
// and EventLog (Config.RateLimits, Config.EventLog); nil shows "not configured".
// GateLimits is the RateLimitState of the rate-limit gates: per client id the phase
// (open, blocked, probing, releasing), the block's reason, time left and end, and
// the budget's use.
// Posts are checked like /auth's (cross-site refused, session and its CSRF token).
// The templates and the one stylesheet are embedded; an optional script adds Copy
// buttons and nothing depends on it. Its pages are sent with
// Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self';
// form-action 'self'; frame-ancestors 'none'; base-uri 'none' (and object-src,
// connect-src 'none'), X-Frame-Options: DENY, Referrer-Policy: no-referrer,
// nosniff and Cache-Control: no-store.
//
// Logs name accounts, never tokens, codes, verifiers, states, session ids, CSRF
// tokens or the admin token.
//
// Account ids "." and ".." are valid but cannot be addressed in a path (the
// ServeMux cleans them away); manage them through the proxy's header or avoid them.
package admin
