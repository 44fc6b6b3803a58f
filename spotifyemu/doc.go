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
//     or the single 2026 message), GET /v1/me, the player calls answering 204,
//     playlist item and image uploads with Spotify's size limits, a streaming
//     endpoint (/v1/_emulator/stream) and, for every other path, a JSON echo of
//     what was received (method, path, query, content type, body length and
//     SHA-256) so tests can check that a proxy forwarded and replayed bodies.
//
// So the same base URL can be configured as both the accounts URL and the API
// URL of the code under test.
//
// Behaviour that changed at Spotify over time is selectable: the
// [RefreshPolicy] (rotate and revoke the old refresh token, never rotate, or
// the 2026 answer without a refresh_token field) and [Options.Legacy401].
// Refresh tokens expire [Options.RefreshTokenLifetime] after the user
// authorised the app; refreshing does not extend that.
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
