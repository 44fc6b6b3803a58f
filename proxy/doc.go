// Package proxy is the reverse proxy in front of the Spotify Web API.
//
// A request's path: the proxy checks the optional Proxy-Authorization, picks the
// account (X-Spotify-Account or the default), asks its TokenSource for a token
// (answered from memory in the steady state), buffers a body up to MaxReplayBody,
// and forwards the request with httputil.ReverseProxy (Rewrite, never Director): the
// caller's Authorization, Proxy-Authorization and X-Spotify-Account are removed and
// "Authorization: Bearer <token>" is set. Responses stream back unchanged.
//
// On a 401 from Spotify (whatever its message) the token is invalidated — which
// refreshes it only if it is still the current one — and the request is sent once
// more with the buffered body. A second 401, or a 401 to a body too large to replay,
// passes through.
//
// Errors the proxy makes itself use Spotify's error shape,
// {"error":{"status":N,"message":"…","reason":"PROXY_…"}}, so client libraries
// surface them.
package proxy
