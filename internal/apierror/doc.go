// Package apierror is where errors become HTTP answers, for the proxy and the admin
// API alike.
//
// Write sends an error in the Web API's shape,
//
//	{"error":{"status":N,"message":"…","reason":"…"}}
//
// with Cache-Control: no-store and, when asked, Retry-After in whole seconds
// (rounded up), so client libraries that read Spotify's errors read these too.
//
// ForToken and ForStore are the one mapping from the token source's failures to
// answers: ForToken for reading a token (the proxy's Token and Invalidate, the admin
// API's GET …/token), ForStore for the accounts' store (deliveries, deletions and
// listing).
// Each returns whether it knew the error; an unknown one gets a generic 503 with
// Retry-After, and the caller logs it (and, when the caller's own request was
// cancelled, answers nothing). Messages are fixed text: an error's own text, which
// may name an account or come from the token endpoint, never reaches an answer.
package apierror
