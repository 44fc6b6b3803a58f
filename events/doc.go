// Package events records what happens to accounts over their lifetime and delivers
// it to the app at least once.
//
// Events (Type): account.linked (a login, or an admin delivery of a new account),
// account.reauth_required, account.recovered (a reauth_required account works
// again), account.refresh_token_expiring (once per account and authorisation,
// EXPIRY_WARNING before authorized_at + REFRESH_TOKEN_LIFETIME) and account.deleted.
// An event carries its id, type, account, time, the account's status, authorized_at
// and the refresh token's lifetime end (expires_at); never a token.
//
// A Log keeps the events in a backend and, with WEBHOOK_URL, delivers them:
//
//   - Redis (NewRedisBackend): a Stream under the key prefix, capped with
//     MAXLEN ~. Replicas read it as one consumer group, so each event is sent by
//     one replica; an entry is acknowledged (XACK) only after a 2xx. A replica that
//     dies leaves its entries pending; another claims them with XAUTOCLAIM once
//     they have been idle for ClaimIdle, so a crash or restart loses nothing. A
//     live replica keeps the entries it is still retrying from looking idle, also
//     while slow attempts run, and lets go of any another replica took over
//     meanwhile. If Redis loses the group with its data, the first group command
//     to notice makes it again from the stream's start. Once an hour, consumers
//     idle for an hour with nothing pending (replicas gone) are deleted.
//   - File (OpenFileBackend): a JSON file beside the token file (atomic
//     temp+fsync+rename, mode 0600) holding the undelivered events and the latest
//     ones; it survives restarts.
//
// Delivery (Standard Webhooks): a POST of the event's JSON with the headers
// webhook-id (the event id, the same on every attempt), webhook-timestamp (unix
// seconds of the attempt) and webhook-signature ("v1,<base64 HMAC-SHA256 of
// id.timestamp.body>" with the key of WEBHOOK_SECRET, whsec_<base64>). A non-2xx
// answer, a redirect or a timeout is retried with exponential backoff and jitter
// until WEBHOOK_RETRY_FOR after the event; then the event is dropped with a log
// line and spotify_proxy_event_deliveries_total{result="dropped"}. Events of
// different accounts are delivered independently and in no guaranteed order; a
// receiver deduplicates on webhook-id.
//
// Without WEBHOOK_URL events are only kept for GET /admin/v1/events?after=<id>
// (Handler), which serves the same payloads to an app that polls.
//
// Where events come from: the admin API calls Linked and Deleted; the token source
// calls OnStatusChange (StatusObserver) when an account's status changes; and
// ExpiryScanner walks the account list periodically (one replica at a time) and
// emits account.refresh_token_expiring once per account and authorisation, the
// mark kept in the backend so that it holds across replicas and restarts.
package events
