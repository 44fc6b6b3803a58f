// Package tokenstore keeps Spotify tokens and hands out fresh access tokens.
//
// A Source sits in front of a Store (the embedded FileStore, or Redis for several
// replicas) and a Refresher (the token endpoint). Its contract:
//
//   - Steady state: Token answers from an in-process cache — no store round trip, no
//     lock, no allocation.
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
//   - invalid_grant: the store is re-read first (a peer may have rotated the token);
//     only then is the account marked reauth_required, and it is tried again after
//     ReauthBackoff. Refresh tokens are never deleted on errors.
//   - Temporary failures (5xx, timeouts) back off exponentially with jitter while the
//     current token is served as long as it is valid. The backoff is capped at
//     RetryMax (1m) while a valid token is served, and at RetryMaxExpired (15s) once
//     none is left, so callers get tokens again soon after the endpoint recovers.
//   - After a 401 (Invalidate), a token is trusted only if its refresh began after the
//     401 arrived or was itself caused by a 401: a revocation kills every token of the
//     moment, including one a peer obtained while the rejected request was in flight.
//     If no refresh can be had, another valid stored token is still better than an error.
//   - A 401 storm is not a token-endpoint storm: within UnauthorizedRefreshInterval
//     (UNAUTHORIZED_REFRESH_INTERVAL, 5s) of a refresh caused by a 401, a 401 for the
//     token it obtained gets ErrRefreshTooSoon instead of another refresh, and the
//     proxy lets Spotify's 401 through. The stored record's refreshed_at and
//     refresh_trigger decide, so the floor holds across replicas; a 401 for a token
//     obtained for any other reason (ahead, expired, delivered) refreshes as before.
//   - Records at rest (Codec): with TOKEN_ENCRYPTION_KEY a record is sealed whole
//     (AES-256-GCM, format 2); only its version (which Redis's compare-and-set reads)
//     and key id are in clear, and its account id and version are associated data,
//     so a record tampered with, or copied to another account or version, does not
//     open. A plaintext record is refused (anyone who can write to the store could
//     have written it) unless TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT migrates it; records
//     of the earlier sealed layout (only the tokens sealed) are read. Either is
//     sealed at its next write. A record that does not open is reported (log naming
//     the account, spotify_proxy_store_errors_total{op="read"}), never used and never
//     written over. The token file is kept at mode 0600 (tightened at open).
//   - Account gauges (ScanAccounts): on a store replicas share (SummaryStore), one
//     replica per interval lists the records and saves a summary the others show.
//
// The refresh of one account across replicas:
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
package tokenstore
