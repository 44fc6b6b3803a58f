// Package chaos is the chaos suite of spotify-token-proxy: the real proxy binary,
// three replicas sharing one real redis-server, in front of the real Spotify
// emulator binary, with load running, while things break. Everything listens on
// 127.0.0.1; every process is killed when its scenario ends.
//
// It holds tests only (this file is the package's documentation). Run it with
//
//	make chaos         # long form: CHAOS_DURATION=full, about 10 minutes
//	make chaos-short   # short form, about 2 minutes (also part of `go test ./...`)
//	go test -count=1 -v -run TestChaos ./chaos/ [-chaos.duration=full]
//
// The tests skip under -short. redis-server must be installed (Debian package
// redis-server); without it they fail saying so. CHAOS_RACE=1 builds the binaries
// with -race, CHAOS_KEEP=1 keeps every scenario's logs (a failed scenario's are
// always kept; the path is printed), CHAOS_VERBOSE=1 prints every scenario's
// timeline and token calls, CHAOS_SLOW_LATENCY overrides the "slow token
// endpoint" latency (default 1.4s).
//
// # The world of one scenario
//
// Every scenario starts afresh:
//
//   - the emulator (cmd/spotify-emulator) with -refresh-policy rotate: every
//     refresh answers a new refresh token and kills the one sent, so a second
//     refresh with the same token gets invalid_grant. Access tokens live 8 s.
//   - a token tap in the test process between the replicas and the emulator's
//     token endpoint: replica i's SPOTIFY_ACCOUNTS_URL is http://tap/r{i}, so each
//     token call is recorded with its replica, account (followed along the chain
//     of rotated refresh tokens), start and end, status, and the tokens it
//     returned. It forwards with the caller's context: a replica that dies or gives
//     up cancels the emulator's answer, which then rotates nothing. The Web API
//     (/v1/...) goes to the emulator directly.
//   - one redis-server (internal/redistest) with AOF and appendfsync always, as a
//     production Redis holding refresh tokens must run: a restarted Redis has
//     its data.
//   - three replicas of the proxy binary on their own ports: REDIS_URL shared,
//     REFRESH_AHEAD=4s, LOCK_TTL=1s (so the token call timeout, 2×LOCK_TTL, is 2 s),
//     UNAUTHORIZED_REFRESH_INTERVAL=500ms (scaled down like the token lifetime: within
//     it a 401 for a token obtained because of a 401 passes through by design, and
//     the revocation scenario revokes again 1.5 s after a revocation's recovery),
//     ADMIN_TOKEN set, no encryption key.
//   - four accounts: "default", seeded by every replica from SPOTIFY_REFRESH_TOKEN,
//     and alice, bob and carol, delivered through the admin API; all refresh tokens
//     are issued by the emulator (control API issue-refresh-token).
//   - load: 16 goroutines in a closed loop (10 ms pause between requests, 15 s
//     client timeout), GET /v1/me round robin over the replicas in rotation and
//     over the accounts (X-Spotify-Account; none for default). A 200 must carry
//     the account's own Spotify user id. Anything else is kept with its times,
//     replica, account, status and the reason of the proxy's JSON error.
//
// # Scenarios
//
// Durations are those of the short form / the full form.
//
//	TestChaosRotationBaseline    rotation, no fault, 12 s / 60 s: the baseline.
//	TestChaosRedisKilled         redis-server SIGKILLed while refreshes are in flight
//	                             (token latency 300 ms so that the kill lands mid-call:
//	                             the holders get rotated tokens Redis cannot take),
//	                             down 4 s / 15 s, restarted on the same port; 1 / 2 rounds.
//	TestChaosRedisPaused         redis-server SIGSTOPped while refreshes are in flight,
//	                             3 s / 8 s (> LOCK_TTL), then SIGCONT; 1 / 2 rounds.
//	TestChaosLockHolderKilled    token latency 1.4 s (> LOCK_TTL, < the 2 s call
//	                             timeout); the replica whose token call is in flight
//	                             (it holds the account's lock; the lock key is checked
//	                             in Redis) is SIGKILLed 0.4 s into the call; every
//	                             account must be refreshed again, then the replica is
//	                             restarted; 1 / 3 rounds.
//	TestChaosTokenEndpointOutage the token endpoint answers 503 for 8 s / 60 s (the
//	                             issue's "a minute"; the short form says it is scaled
//	                             down), then is slow (1.4 s > LOCK_TTL) for 8 s / 30 s
//	                             after every account recovered, then fast again.
//	TestChaosReplicaRestart      each replica in turn taken out of rotation, SIGTERMed
//	                             (it must drain and exit 0) and started again on its
//	                             ports; then one stopped while its token call is in
//	                             flight; 1 / 2 rounds.
//	TestChaosAccessRevoked       the emulator revokes every access token (revoke-access)
//	                             4 / 10 times, every other time right after a refresh
//	                             event (so the newest stored token dies too): every
//	                             replica gets 401s and must refresh and retry; no
//	                             non-200 is allowed.
//
// Rotation runs throughout every scenario. Faults are waited for as conditions (a
// token call in flight, every account refreshed after the fault, every replica
// serving every account again), never guessed with sleeps; only the time the load
// runs is a sleep.
//
// # What is asserted, per scenario
//
// One table row is printed per scenario (t.Logf and stdout; TestMain prints the
// whole table at the end):
//
//		| scenario | mode | secs | requests | non-200 | allowed | violations | non-200 by reason |
//		  token calls (ok/failed/no answer) | refresh events | duplicates | invalid_grant |
//		  reauth_required | refresh tokens lost | upstream 401 | result |
//
//	  - requests, non-200: answers the load got. A non-200 is allowed only as
//	    503 PROXY_TOKEN_UNAVAILABLE in a scenario with an outage (Redis killed or
//	    paused, lock holder killed, token endpoint failing, replica restarted), and
//	    only while no valid token can exist:
//	    (a) no access token issued for the account was valid for the whole time of
//	    the request (a token counts as valid from 0.1 s after the tap passed it on -
//	    time for its replica to store it - until its expiry less the proxy's 1 s
//	    skew, cut short by a revocation), or
//	    (b) Redis was down (killed or paused) during the request, or had been back
//	    for less than 2 s (time to reconnect).
//	    A transport error is allowed only for a request in flight on a replica at
//	    the moment it was SIGKILLed. Every other non-200 - PROXY_REAUTH_REQUIRED,
//	    PROXY_UPSTREAM_UNREACHABLE, a 401 passed through, a timeout, a 200 for the
//	    wrong user, a 503 while a valid token existed - is a violation. The baseline
//	    and the revocation scenario allow nothing: no non-200 at all.
//	  - token calls: the emulator's refresh_calls (which must equal the tap's count:
//	    nothing bypasses the tap), split into ok / failed (an HTTP error answer) /
//	    no answer (cut by the caller). A failed or unanswered call must overlap an
//	    injected token endpoint fault or a kill or stop of its replica.
//	  - refresh events: successful refresh answers, i.e. access tokens issued for
//	    user grants; with rotation each is one rotation of the account's refresh
//	    token, and each must carry a rotated token.
//	  - duplicates: a successful refresh of an account that started before the
//	    account's previous token (from the previous successful refresh) entered its
//	    refresh-ahead window (issued + lifetime - REFRESH_AHEAD, 0.2 s tolerance),
//	    with no revocation in between: a token call nobody needed, whatever the
//	    number of replicas. Must be 0. A refresh within a second of a revocation
//	    around the previous call is its effect: a replica whose 401 arrives after a
//	    peer's call began cannot tell whether that token was issued before the
//	    revocation, and refreshes again rather than retry with a dead token.
//	  - invalid_grant: the emulator's count. Must be 0: with rotation, a refresh
//	    with a token another replica already rotated away is exactly what a lost
//	    race, a lost write or a late writer produces.
//	  - reauth_required: accounts whose status in GET /admin/v1/accounts is not ok
//	    at the end (or that are missing). Must be 0.
//	  - refresh tokens lost: accounts whose refresh token as stored in Redis (the
//	    hash {prefix}{account}:token, field r, decoded with tokenstore.Codec) is not
//	    live at the emulator (refresh-token-live). Must be 0, and the emulator's
//	    live-refresh-tokens must equal the number of accounts.
//	  - upstream 401: the emulator's 401 answers (informational: each is retried by
//	    the proxy; in the baseline they mean an expired token was sent).
//
// Each scenario also fails if it does not recover: after its fault ends, every
// account must be refreshed and every replica in rotation must serve every account
// again within a bound (30 s / 60 s; 30 s after the token endpoint outage, where
// the backoff is capped at 15 s while callers get errors).
//
// A failed scenario logs its timeline, every token call, and the warnings and
// errors of each replica's log, and keeps all logs.
package chaos
