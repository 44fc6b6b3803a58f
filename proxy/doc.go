// Package proxy is the reverse proxy in front of the Spotify Web API.
//
// A request's path: the proxy first refuses what it will not forward, looking only
// at the request line and headers, so a refused request never reaches the token
// source: a method other than GET, HEAD, POST, PUT, PATCH and DELETE (405
// PROXY_METHOD_NOT_ALLOWED, with Allow), an absolute-form target for another host
// (400), a Host outside AllowedHosts (421 PROXY_FORBIDDEN_HOST; the name is compared
// without port, brackets or case), and a browser: an Origin header, a Sec-Fetch-Site
// other than "none", or OPTIONS (403 PROXY_FORBIDDEN_ORIGIN). Browsers are refused
// because any page could otherwise spend the user's token; server-side clients send
// neither header. Then it checks the optional Proxy-Authorization, picks the account
// (X-Spotify-Account or the default), asks its TokenSource for a token (answered from
// memory in the steady state), buffers a body up to MaxReplayBody, and forwards the
// request with httputil.ReverseProxy (Rewrite, never Director): the caller's
// Authorization, Proxy-Authorization and X-Spotify-Account are removed and
// "Authorization: Bearer <token>" is set. The query string is sent as the caller
// wrote it, byte for byte. Responses stream back unchanged, except
// for the URL rewriting below.
//
// Spotify's answers carry absolute URLs of its own origin (href, next and previous of
// every paging object); a client that follows them would leave the proxy. With
// Config.RewriteResponseURLs, every occurrence of the upstream origin followed by
// /v1/ (also with JSON-escaped slashes, https:\/\/…\/v1\/) in a JSON body, and in a
// Location header, becomes Config.PublicURL + /v1/, or "http://" + the request's Host
// when PublicURL is nil; other origins (open.spotify.com, i.scdn.co) stay. The body
// is rewritten as it streams, holding back only len(pattern)-1 bytes between reads so
// a URL split across reads is still found, and is sent without Content-Length
// (chunked). A gzip-encoded JSON answer is decoded on the way and sent uncompressed,
// without Content-Encoding; other codings (br, deflate) and non-JSON bodies pass
// untouched. An answer that is not wrapped costs no allocation; the buffers and gzip
// decoders of wrapped ones are pooled.
//
// On a 401 from Spotify (whatever its message) the token is invalidated — which
// refreshes it only if it is still the current one — and the request is sent once
// more with the buffered body. A second 401, or a 401 to a body too large to replay,
// passes through.
//
// Slow and large bodies: a request body's reads have an idle deadline
// (BodyReadTimeout, renewed by every read, so a long upload that keeps arriving is
// not cut); a body that stalls, or never starts, ends with 408 PROXY_BODY_TIMEOUT and
// a closed connection. Requests without a body pay nothing for it. A replay buffer
// starts at 4 KiB and grows with what has arrived, never with what Content-Length
// announces, and every byte of it is reserved from MaxReplayMemory, which all
// requests share; past it, bodies stream (their 401 passes through) until requests
// end and give their bytes back. An answer from Spotify that sends nothing for
// UpstreamIdleTimeout is cut and the caller's connection closed; its timer lives in
// the pooled per-request state, so the hot path allocates nothing for it.
//
// Spotify's rate limit (Config.RateLimit, a ratelimit.Gate; ratelimit.go): before a
// request is sent the gate decides whether it goes, waits or is answered 429 by the
// proxy (Spotify's reason carried over, else PROXY_RATE_LIMITED, with Retry-After);
// a 429 from Spotify passes through unchanged and blocks the app on every replica.
// Without a block or budget this costs one atomic load. Safe retries
// (Config.UpstreamRetries; ratelimit_retry.go): a GET or HEAD answered 502, 503 or
// 504, or not answered, is sent again with jittered backoff within a retry budget;
// never a 429, another method or anything during a block.
//
// Errors the proxy makes itself use Spotify's error shape,
// {"error":{"status":N,"message":"…","reason":"PROXY_…"}}, so client libraries
// surface them.
//
// Tracing (Config.Tracing, tracing.go): with a provider that records, each request is
// a server span continuing the caller's traceparent (http.request.method, url.path,
// server.address, http.response.status_code, …), with children: "token" (the lookup,
// spotify_proxy.token.cache hit or miss: a lookup that had to wait on its context is a
// miss; a token source that traces puts its refresh under it), the call to Spotify as
// an otelhttp client span (Spotify gets its
// traceparent), and after a 401 "retry after 401" holding "token invalidate" and the
// second call (a 401 that passes through adds the event "401 not retried" with the
// reason). Spotify's Retry-After and the reason and message of its JSON error body are
// attributes of the server span; the account only with Tracing.AccountIDs. Tokens and
// header values never are. With no provider, or a no-op one, the proxy starts no span
// and wraps nothing: a request allocates what it did without tracing. A sampled
// request's duration carries its trace id as an exemplar.
package proxy
