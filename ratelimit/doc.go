// Package ratelimit holds Spotify's rate limit for every replica of the proxy.
//
// Spotify counts an app's calls over a rolling 30-second window and answers 429
// with Retry-After; calls made during the wait are reported to lengthen it. A
// [Gate] is the one place all of an app's traffic passes before it reaches
// Spotify:
//
//   - Shared block. A 429 from Spotify is recorded with [Gate.Record] as "blocked
//     until now + Retry-After" (a missing or unparsable Retry-After counts as 1s;
//     of two blocks the later wins). With Redis ([RedisBlocks]) the block is one key
//     per app, {prefix}{ratelimit:<client id>}:block (the braces are a Cluster hash
//     tag), written by a script that only moves it later and that publishes it on
//     {prefix}ratelimit, so every replica learns of it at once; each replica keeps
//     the block in memory, so checking it costs no store round trip. Without Redis
//     the block is in memory only. When Redis fails, the block still holds the
//     replica that saw the 429 and store_errors_total{op="ratelimit"} counts.
//   - While blocked, [Gate.Admit] sends nothing to Spotify: a request waits when the
//     remaining time is at most MaxWait and its caller is still connected, else it
//     is rejected with the remaining time and Spotify's reason (QUOTA_EXCEEDED) or
//     PROXY_RATE_LIMITED. When the block ends one request (the probe) goes first;
//     the others wait for its answer (another 429 renews the block) and are then
//     released one per ReleaseInterval instead of all at once.
//   - One probe for all replicas ([Prober]; [RedisBlocks] is one). When the block
//     ends, the first request of each replica asks for the probe lease,
//     {prefix}{ratelimit:<client id>}:probe (same hash tag as the block), in a
//     script that takes it only when no other probe's lease runs, no later block
//     is stored and no probe after this block was answered yet. The replica that
//     gets it sends the probe; the others hold their requests, without polling,
//     until one of: the renewed block arrives on the channel (the probe's 429),
//     "<client id> released <until ms>" arrives on it ([Prober.Finish] publishes it
//     for any other answer, and marks the lease key released so a replica that
//     missed the message learns it at its next election), or the lease ends
//     (ProbeLease, 10s by default: the prober's replica may have died, or Spotify is
//     slow), and then one of them takes the lease and probes. A probe without
//     answer frees the lease. Lease times are the replicas' clocks, as the block's
//     are; the key's TTL is a backstop. When Redis fails, each replica probes for
//     itself as without a Prober (store_errors_total{op="ratelimit"} counts), so
//     nothing waits for the store.
//   - Optional shared budget ([Budget]): at most N calls in any period, a burst
//     of N allowed, as Spotify's rolling window counts: a sliding-window log, on
//     Redis in one script with Redis's clock ([RedisBudget]; keys
//     {prefix}{ratelimit:<client id>}:budget and, per account, …:budget:<account>)
//     or in process ([MemoryBudget]). A GCRA with burst N (go-redis/redis_rate)
//     was not used: after an idle period it admits N at once and then N more over
//     the period, twice what a rolling window allows, so Spotify would answer 429.
//     A budget that cannot reach Redis fails open. Without a budget the gate
//     makes no store round trip at all.
//   - [Gate.Snapshot] is what the operator page shows: the phase (open, blocked,
//     probing, releasing), the block and its reason, and the budget's use.
//   - [RetryBudget] bounds the proxy's retries of idempotent calls to a share of
//     the requests over a sliding window, so an outage does not multiply load.
//
// Time comes from an injected [Clock], so tests move it by hand.
package ratelimit
