// Package spotifyemu is an in-process stand-in for Spotify's accounts service
// and Web API, faithful enough to test a token-injecting proxy against.
//
// One [Emulator] is one [net/http.Handler] that serves both halves of Spotify:
//
//   - the accounts service: POST /api/token (grants authorization_code with
//     optional PKCE S256, refresh_token and client_credentials; client
//     authentication by HTTP Basic or by form fields) and GET /authorize, which
//     auto-approves and redirects with a code (or with error=access_denied
//     when the emulator-only parameter emulator_deny=1 is given);
//   - the Web API under /v1/: bearer authentication with Spotify's error
//     bodies and WWW-Authenticate header (the pre-2026 per-cause 401 messages
//     or the single 2026 message), GET /v1/me, the player calls answering 204
//     (GET /v1/me/player and /currently-playing: 204, idle), playlist item
//     and image uploads with Spotify's size limits, a streaming endpoint
//     (/v1/_emulator/stream), the catalog and library calls below and, for
//     every other path, a JSON echo of what was received (method, path,
//     query, content type, body length and SHA-256) so tests can check that a
//     proxy forwarded and replayed bodies.
//
// So the same base URL can be configured as both the accounts URL and the API
// URL of the code under test.
//
// The modelled GET calls answer Spotify's object shapes, checked against
// Spotify's published OpenAPI description in testdata/openapi:
// /v1/me/playlists, /v1/me/tracks, /v1/playlists/{id}, its entries at
// /v1/playlists/{id}/items and the older /tracks, /v1/search (q, type),
// /v1/albums/{id} and its /tracks, /v1/artists/{id} and /v1/tracks/{id}.
// Nothing is stored: every object is a pure function of its id, and a user's
// library (21–30 playlists, the first, "Long Mix", with 61–100 entries; 40–99
// saved tracks) of a seed derived from the user id, so two emulators answer
// alike. Ids are 22 base62 characters that encode what they name; a malformed
// id answers 400 "Invalid base62 id", one the emulator did not make 404.
// Lists are Spotify's paging objects (href, items, limit, next, offset,
// previous, total) with Spotify's limits: default 20, maximum 50 (100 on the
// older /tracks, and 5 and 10 on /v1/search, the 2026 values; search offsets
// up to 1000); a bad limit or offset answers 400 "Invalid limit" or "Invalid
// offset". href, next and previous are absolute URLs on [Options.BaseURL],
// or on the scheme and Host of the request, as Spotify's are on
// https://api.spotify.com; search links name the query "query", as
// Spotify's do, and it is accepted for q. Search results depend on the
// lower-cased query only; shows, episodes and audiobooks are always empty.
// Playlists and their entries carry both the 2026 fields (items, item) and
// the deprecated ones that older clients such as zmb3/spotify read (tracks,
// track). Uploaded playlist items are acknowledged (201 with a snapshot_id), not
// stored; the body may be {"uris":[…]} or a bare JSON array of URIs, and
// ?uris= wins over it.
//
// Like Spotify, the Web API ignores one trailing slash (/v1/me/). JSON
// answers of 1 KiB or more are gzip-encoded when the caller sends
// Accept-Encoding: gzip (Content-Encoding: gzip; Vary: Accept-Encoding on
// every answer that could be); smaller answers and errors stay plain. JSON
// answers other than errors say Cache-Control: private, max-age=0. Playlist
// answers (/v1/playlists/{id} and its entries) carry an ETag (weak when
// gzip-encoded) and answer 304 Not Modified to a matching If-None-Match.
//
// Behaviour that changed at Spotify over time is selectable: the
// [RefreshPolicy] (rotate and revoke the old refresh token, never rotate, or
// the 2026 answer without a refresh_token field) and [Options.Legacy401].
// Refresh tokens expire [Options.RefreshTokenLifetime] after the user
// authorised the app; refreshing does not extend that.
//
// Spotify's rate limit is modelled (off by default; ratelimit.go): a rolling window
// per client id ([Emulator.SetRateLimit]), 429 with Retry-After, a penalty that
// grows with every call during the wait ([Emulator.SetRatePenalty]), 429s with
// "reason":"QUOTA_EXCEEDED" ([Emulator.SetQuotaExceeded]), per-path windows
// ([Emulator.SetPathLimit]) and 5xx on a share of one method's calls
// ([Emulator.SetAPIFault]); [Emulator.RateStats] counts what it did.
//
// Failures are injected at run time with methods that are safe to call while
// requests are in flight: [Emulator.FailTokenEndpoint],
// [Emulator.SetTokenLatency], [Emulator.RateLimit],
// [Emulator.RevokeAccessTokens] and [Emulator.RevokeRefreshTokens].
// [Emulator.Stats] counts what was asked and answered. [Emulator.ControlHandler]
// exposes the same knobs over HTTP under /_emulator/ for out-of-process use
// (see cmd/spotify-emulator).
//
// Time is read from [Options.Now], so tests can expire tokens without
// sleeping. Only the injected latency and the optional stream pacing use real
// time.
//
// To stay bounded in long load and chaos runs, the emulator forgets access
// tokens an hour after they expired (they then answer as unknown rather than
// expired), rotated-away refresh tokens a day after rotation (then
// "Invalid refresh token" rather than "Refresh token revoked"), and
// authorisation codes an hour after their 10-minute lifetime.
//
// The emulator is meant for tests, demos and load tests on loopback: it has
// no persistence, no TLS, and its control API has no authentication.
package spotifyemu
