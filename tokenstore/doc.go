// Package tokenstore keeps Spotify tokens and hands out fresh access tokens.
//
// A Source sits in front of a Store (the embedded FileStore, or a RedisStore that
// several replicas share) and a Refresher (the token endpoint). Source itself is a
// short composition; each rule has one home:
//
//	source.go        Source: Token, Fresh, Invalidate, the lifecycle; applies a flight's result
//	options.go       Config and its defaults; the refresh policy (RefreshAheadSetting, RefreshTimeoutFor)
//	cache.go         per-account state (entry: one locking discipline) and LRU eviction
//	flight.go        the single flight: one flight per account, callers join it
//	trust.go         the 401 rule: which token may answer after a 401; the 401 floor
//	freshness.go     the windows: refresh-ahead (capped at half a lifetime), expiry skew
//	backoff.go       the token-endpoint backoff, as a value
//	refresh.go       the refresh protocol: read, lock, re-read, then refresh_call.go
//	refresh_call.go  the token call, the compare-and-set write, invalid_grant recovery
//	pending.go       rotated refresh tokens waiting for the store to answer
//	invalidations.go telling peers of changes, dropping what peers changed
//	accounts.go      account management: deliver, seed, delete, list
//	gauges.go        the account gauges
//	validate.go      background validation: stale accounts refreshed, paced, one Source at a time
//	cause.go         Cause (why a token was obtained) and the Observer the metrics implement
//	tracing.go       the spans of a flight (Config.Tracing)
//	clock.go         the one clock: the injected Now, and real-time waits
//
// Its contract:
//
//   - Steady state: Token answers from the in-process cache — no store round trip, no
//     lock, no span, no allocation (traced or not).
//   - Refresh-ahead: a token with less than RefreshAhead left is refreshed in the
//     background while callers keep getting the current one.
//   - One token-endpoint call per account per refresh event: an in-process single
//     flight, then the distributed Locker, then a re-read of the store (a peer may
//     have refreshed meanwhile).
//   - Writes are compare-and-set on the record's version. A writer whose lock expired
//     is rejected and its result discarded — unless the stored record still holds the
//     refresh token it used and it holds the rotated successor, which is then the only
//     live token and is written over.
//   - A rotated refresh token is stored before the new access token is used; when the
//     store is down it is kept in memory and written as soon as the store answers.
//   - An answer without refresh_token keeps the stored one.
//   - invalid_grant: the store is re-read first (a peer may have rotated the token;
//     on a SharedStore, once more after a grace period for a peer's pending write);
//     only then is the account marked reauth_required, and it is tried again after
//     ReauthBackoff. Refresh tokens are never deleted on errors.
//   - Temporary failures (5xx, timeouts) back off exponentially with jitter while the
//     current token is served as long as it is valid. The backoff is capped at
//     RetryMax (1m) while a valid token is served, and at RetryMaxExpired (15s) once
//     none is left, so callers get tokens again soon after the endpoint recovers.
//   - After a 401 (Invalidate), the 401 rule of trust.go decides: a token is trusted
//     only if it is not the rejected one and its refresh began after the 401 arrived
//     or was itself caused by a 401 — a revocation kills every token of the moment,
//     including one a peer obtained while the rejected request was in flight. If no
//     refresh can be had now, another valid token is still better than an error.
//   - A 401 storm is not a token-endpoint storm: within UnauthorizedRefreshInterval of
//     a refresh caused by a 401, a 401 for the token it obtained gets ErrRefreshTooSoon
//     instead of another refresh, and the proxy lets Spotify's 401 through. The stored
//     record's RefreshedAt and Cause decide, so the floor holds across replicas.
//   - Records at rest (Codec): with encryption keys a record is sealed whole
//     (AES-256-GCM, format 2); only its version (which Redis's compare-and-set reads)
//     and key id are in clear, and its account id and version are associated data,
//     so a record tampered with, or copied to another account or version, does not
//     open. A plaintext record is refused (anyone who can write to the store could
//     have written it) unless the codec accepts plaintext to migrate it; records of
//     the earlier sealed layout (only the tokens sealed) are read. Either is sealed at
//     its next write. A record that does not open is reported (a log naming the
//     account, a read store error), never used and never written over. The token
//     file is kept at mode 0600 (tightened at open).
//   - A SharedStore (RedisStore) is a capability the store declares: the Source then
//     gives peers' pending writes a grace period, and one replica per interval
//     computes the account gauges and saves a summary the others show.
//   - Background validation (ValidateEvery): an account whose refresh token has not
//     proved itself (RefreshedAt, ObtainedAt) within ValidateEvery is refreshed as a
//     flight of its own with cause CauseValidate — the same single flight, lock,
//     re-read and compare-and-set write as a request's — so a revoked grant turns
//     reauth_required, and the StatusListener hears it, before a request needs the
//     account. Refreshes are paced (ValidatePace, with jitter); on a
//     ValidationClaimer store one Source at a time validates; reauth_required
//     accounts are retried on a backoff from ReauthBackoff, not on every pass.
//   - The account gauges count, besides accounts by status and the oldest
//     authorisation, the ok accounts whose refresh token's lifetime
//     (AuthorizedAt + RefreshTokenLifetime) ends within ExpiryWarning.
//   - The stored Cause keeps the strings records were written with (ahead, expired,
//     unauthorized, admin, validate); package metrics maps causes to label values, so renaming a
//     label changes neither the stored records nor what replicas trust.
//
// # The request path
//
//	flowchart TD
//	  T[Token] --> C{cached state}
//	  C -- fresh --> OK[answer from memory]
//	  C -- in the ahead window --> BG[background flight, cause ahead] --> OK
//	  C -- checked long ago --> RC[background re-check of the store] --> OK
//	  C -- remembered error --> ERR[answer the error]
//	  C -- none or expired --> J[join the account's flight, cause expired]
//	  I[Invalidate after a 401] --> TR{cached token trusted by the 401 rule?}
//	  TR -- yes --> OK
//	  TR -- no --> J2[join a flight; a joined flight's token must pass the 401 rule too]
//
// # The refresh path (one flight)
//
//	flowchart TD
//	  F[flush a pending rotated token] --> R[read the store]
//	  R -- token answers the demand --> P[publish]
//	  R -- 401 floor holds --> TS[ErrRefreshTooSoon]
//	  R -- reauth_required / no refresh token / backing off --> E[error or previous token]
//	  R --> L[lock] --> R2[re-read; on a SharedStore maybe after peerGrace]
//	  R2 -- a peer's token answers the demand --> P
//	  R2 --> TC[token call]
//	  TC -- ok --> W[compare-and-set write] --> PN[publish and tell peers]
//	  W -- store down --> PW[keep pending, serve from memory]
//	  TC -- invalid_grant --> IG{a peer rotated the refresh token?}
//	  IG -- yes, its token answers the demand --> P
//	  IG -- yes, its token is not trusted after a 401 --> TC
//	  IG -- no --> RR[mark reauth_required]
//	  TC -- temporary failure --> B[backoff; previous token or UnavailableError]
//
// The protocol (refresh.go) returns a result and never touches the cache; the Source
// (settle) applies it: publish a record, remember an error, or serve the previous
// token (or, after a 401, another valid stored one) while no new one can be had.
//
// # The refresh of one account across replicas
//
//	sequenceDiagram
//	  participant A as replica A
//	  participant B as replica B
//	  participant R as Redis
//	  participant S as Spotify accounts
//	  A->>R: GET record (v7, expiring)
//	  B->>R: GET record (v7, expiring)
//	  A->>R: lock {acct} (obtained)
//	  B->>R: lock {acct} (waits)
//	  A->>R: re-read (still v7)
//	  A->>S: refresh_token grant
//	  S-->>A: new access (+ rotated refresh) token
//	  A->>R: PUT if version == 7 → v8
//	  A->>R: unlock
//	  B->>R: lock obtained, re-read: v8 is fresh → use it (peer_refreshed)
//
// (The same diagram, rendered, is in the README.)
//
// # Spans
//
// With Config.Tracing, a flight is traced when the caller that started it is: its
// span is a child of that caller's sampled span (for a background refresh, the
// lookup that triggered it, which it outlives), and a flight without a sampled
// caller records nothing. The cache-hit path never starts a span. One flight:
//
//	token refresh            the flight (token recheck: a background re-read of the store;
//	│                        renamed token refresh if it has to refresh)
//	├── token store read     spotify_proxy.record.version (0: none)
//	├── token refresh lock   spotify_proxy.lock.result = acquired | timeout | error
//	├── token store reread   spotify_proxy.record.changed (a peer wrote meanwhile), .version
//	├── token endpoint       spotify_proxy.token.grant, spotify_proxy.refresh.result =
//	│                        success | invalid_grant | error, spotify_proxy.refresh.rotated;
//	│                        on failure http.response.status_code and spotify.error.reason
//	│                        (the OAuth error code) when the Refresher's error is an
//	│                        EndpointError, and error.type
//	└── token store write    spotify_proxy.write.result = written | overwritten | conflict | error
//
// A flight stops where the protocol does: one that finds its answer in the store has
// only the read; a waiter that finds a peer's token has no token endpoint or write.
// The flight's span has spotify_proxy.refresh.cause (ahead, expired, unauthorized,
// admin, recheck), spotify_proxy.refresh.outcome (stored, peer_refreshed,
// lock_timeout, written, conflict, unstored, invalid_grant_recovered,
// reauth_required, no_token, refresh_too_soon, backoff, endpoint_error, store_error),
// spotify_proxy.account only with Tracing.AccountIDs, and error.type with the error
// status when its callers get an error. No token, and no error text, is recorded.
//
// Links tie a refresh to the ones it took its token from, with spotify_proxy.refresh.race:
//
//   - coalesced: a caller that joined a flight another caller started gets no flight
//     span of its own; its own span is marked spotify_proxy.refresh.coalesced and
//     links to the flight's.
//   - peer_refreshed, lock_timeout, invalid_grant_recovered, stale_write_rejected: the
//     flight took a token another replica's refresh obtained. A refresh stores its
//     span's traceparent with the token (Record.TraceParent, sealed with the record;
//     none when it is not sampled), so the replica that takes the token links to it.
//
// The refresh duration's exemplar (Observer.Refreshed's traceID) is the trace of the
// flight's span.
package tokenstore
