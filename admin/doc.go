// Package admin is the proxy's admin listener (ADMIN_ADDR): health, readiness,
// Prometheus metrics, the admin API and the built-in Spotify login.
//
//	GET    /healthz                          200 "ok" while the process runs
//	GET    /readyz                           200 when the store answers; 503 when not, and after SetDraining
//	GET    /metrics                          Prometheus text format (Config.Gatherer)
//	PUT    /admin/v1/accounts/{id}/token     store a delivered token: 204, 400, 409 (stale), 413
//	GET    /admin/v1/accounts/{id}/token     a fresh access token (never the refresh token)
//	GET    /admin/v1/accounts                accounts without secrets, paged (?cursor=…&limit=…)
//	DELETE /admin/v1/accounts/{id}           204, also when there was nothing
//	GET    /auth/login?account=ID[&scope=…]  302 to Spotify's authorize page (state + PKCE S256)
//	GET    /auth/callback                    exchanges the code, stores the account, HTML page
//
// Authentication. /admin/v1 needs "Authorization: Bearer <ADMIN_TOKEN>"; /auth/login
// needs HTTP Basic with any user name and ADMIN_TOKEN as password, so a browser
// prompts for it. A missing or wrong secret gets 401 with a WWW-Authenticate
// challenge (realm "spotify-token-proxy"). Secrets are compared as SHA-256 sums in
// constant time. Authentication comes before routing: without the token every path
// under /admin/v1/ is 401. Without an ADMIN_TOKEN, /admin/v1 and /auth answer 404;
// the login flow also needs a Login client and a redirect URL.
//
// Errors of the admin API use Spotify's error shape (proxy.WriteError), with reasons
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
// Login. /auth/login saves {account, PKCE verifier, scope} under a random state (32
// bytes, base64url) in a StateStore for 10 minutes and redirects to Spotify. The
// callback takes the state (single use: a replay, an unknown or an expired state
// gets 400), exchanges the code with the verifier and stores the tokens with
// obtained_at = authorized_at = now. The state alone identifies the login, so the
// Spotify user may finish it in another browser than the admin's. With several
// replicas the StateStore must be shared. Pages are tiny, escaped by html/template,
// and sent with Cache-Control: no-store, Content-Security-Policy: default-src
// 'none' and Referrer-Policy: no-referrer.
//
// Logs name accounts, never tokens, codes, verifiers, states or the admin token.
//
// Account ids "." and ".." are valid but cannot be addressed in a path (the
// ServeMux cleans them away); manage them through the proxy's header or avoid them.
package admin
