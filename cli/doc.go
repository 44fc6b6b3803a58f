// Package cli is the operator's side of spotify-token-proxy: subcommands of the
// same binary that talk to a running proxy's admin API, for scripts and for
// `kubectl exec`.
//
//	spotify-token-proxy accounts list [--status=S[,S…]] [-o table|json]
//	spotify-token-proxy accounts get ID [-o json|table]
//	spotify-token-proxy accounts delete ID
//	spotify-token-proxy token put ID --refresh-token-file F|-
//	spotify-token-proxy login ID [--timeout=10m] [--scope=…]
//	spotify-token-proxy events tail [--after=ID] [--once] [-o text|json]
//	spotify-token-proxy events listen [--addr=HOST:PORT] [-o text|json]
//	spotify-token-proxy check-config
//	spotify-token-proxy version
//
// Without a command the binary runs the proxy (cmd/spotify-token-proxy decides with
// [IsCommand]); --help prints the proxy's settings and these commands to stdout.
//
// Connection. The admin API is found at --admin-url, else ADMIN_URL, else the
// proxy's own ADMIN_ADDR (in its pod; a wildcard host means 127.0.0.1), else
// http://127.0.0.1:9090. The bearer token comes from ADMIN_TOKEN or ADMIN_TOKEN_FILE
// (or --admin-token-file): never from a flag holding the token, since command lines
// are visible to other users of the machine. Likewise token put reads the refresh
// token from a file or stdin.
//
// accounts list follows the API's paging (next_cursor) to the end, 1,000 accounts
// per request, and filters by status on the client. The login link is on
// PUBLIC_ADMIN_URL when set (in the proxy's pod: where browsers reach the admin
// pages), else on the admin URL. accounts get pages the same
// ordered list and stops at the account (or past it). login prints the admin
// page's login link (/auth/login?account=ID: the admin signs in, confirms and
// approves at Spotify) and polls the account until it is linked anew: status ok
// and an authorized_at other than before. events tail polls
// GET /admin/v1/events?after=<id>, whose answer is
// {"events":[{"id","type","account","time",…}],"next":"<id>"}; it prints each
// event once and keeps polling until interrupted (--once: until the list is
// drained). events listen is the other end of WEBHOOK_URL, for trying webhooks
// out: it verifies each delivery with WEBHOOK_SECRET (or WEBHOOK_SECRET_FILE) as an
// app would (events.Secret.Verify: signature and a timestamp within 5 minutes),
// prints the event and answers 204, and answers 401 to anything else so the proxy
// retries it. check-config runs the proxy's own start-up validation (injected as
// [Env.CheckConfig]) and prints the effective settings, secrets redacted.
//
// Exit status: 0 success (and --help), 1 a failure talking to the proxy or a
// refused operation, 2 a usage error: an unknown command or flag, a missing
// argument, a bad setting. Errors from a flag name the flag, errors from the
// environment name the variable; API errors carry the admin API's status, reason
// and message (never a token).
package cli
