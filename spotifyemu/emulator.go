package spotifyemu

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RefreshPolicy selects what a successful refresh_token grant answers about
// the refresh token.
type RefreshPolicy int

const (
	// RotateRevokeOld answers every refresh with a new refresh_token; the one
	// that was sent is dead afterwards (invalid_grant "Refresh token revoked").
	// Two callers refreshing with the same token race: the loser gets
	// invalid_grant.
	RotateRevokeOld RefreshPolicy = iota
	// NeverRotate answers with the same refresh_token that was sent.
	NeverRotate
	// OmitRefreshToken is Spotify's 2026 behaviour: the answer has no
	// refresh_token field and the token that was sent stays valid.
	OmitRefreshToken
)

// String returns the name used by [ParseRefreshPolicy]: "rotate", "never" or
// "omit".
func (p RefreshPolicy) String() string {
	switch p {
	case RotateRevokeOld:
		return "rotate"
	case NeverRotate:
		return "never"
	case OmitRefreshToken:
		return "omit"
	default:
		return fmt.Sprintf("RefreshPolicy(%d)", int(p))
	}
}

// ParseRefreshPolicy parses "rotate", "never" or "omit" (case-insensitive).
func ParseRefreshPolicy(s string) (RefreshPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "rotate":
		return RotateRevokeOld, nil
	case "never":
		return NeverRotate, nil
	case "omit":
		return OmitRefreshToken, nil
	default:
		return 0, fmt.Errorf("spotifyemu: unknown refresh policy %q (want rotate, never or omit)", s)
	}
}

// Defaults applied by [New] to zero [Options] fields.
const (
	DefaultTokenLifetime        = time.Hour
	DefaultRefreshTokenLifetime = 183 * 24 * time.Hour
)

// Options configures an [Emulator]. Only ClientID and ClientSecret are
// required; zero values of the other fields select the defaults.
type Options struct {
	// ClientID and ClientSecret are the only client credentials the accounts
	// service accepts; anything else is answered 401 invalid_client.
	ClientID, ClientSecret string
	// TokenLifetime is the lifetime of issued access tokens (default 1h). The
	// expires_in field is this in seconds, rounded up, at least 1.
	TokenLifetime time.Duration
	// RefreshPolicy selects what refresh answers say about the refresh token.
	RefreshPolicy RefreshPolicy
	// Legacy401 selects the pre-2026 per-cause 401 messages ("No token
	// provided", "Invalid access token", "The access token expired") instead
	// of the single "Missing/invalid/expired access token".
	Legacy401 bool
	// RefreshTokenLifetime is how long a user's authorisation lasts (default
	// 183 days), counted from the authorisation and not extended by refreshes.
	RefreshTokenLifetime time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// BaseURL is what absolute Web API URLs in answers (href, next,
	// previous) start with, as https://api.spotify.com does at Spotify:
	// scheme://host[:port], with an optional path prefix. Empty: the scheme
	// and Host of each request.
	BaseURL string
}

// Stats counts requests and answers since the emulator was created. The
// token call counters count what a call asked for, whatever the answer, so
// injected failures count in TokenCalls, TokenFailures, the grant counter
// and the auth style counter. The JSON names are the ones served by the
// control API.
type Stats struct {
	TokenCalls            int64 `json:"token_calls"`             // all POST /api/token
	RefreshCalls          int64 `json:"refresh_calls"`           // grant_type=refresh_token
	ClientCredentialCalls int64 `json:"client_credential_calls"` // grant_type=client_credentials
	CodeExchanges         int64 `json:"code_exchanges"`          // grant_type=authorization_code
	InvalidGrants         int64 `json:"invalid_grants"`          // answers with error invalid_grant, injected ones included
	TokenFailures         int64 `json:"token_failures"`          // injected failures answered
	BasicAuthCalls        int64 `json:"basic_auth_calls"`        // token calls with HTTP Basic client credentials
	BodyAuthCalls         int64 `json:"body_auth_calls"`         // token calls without Basic but with client_id in the form
	APICalls              int64 `json:"api_calls"`               // all /v1/ requests
	Unauthorized          int64 `json:"unauthorized"`            // 401 answers from /v1/
	RateLimited           int64 `json:"rate_limited"`            // injected 429 answers from /v1/
}

type counters struct {
	tokenCalls, refreshCalls, clientCredentialCalls, codeExchanges atomic.Int64
	invalidGrants, tokenFailures, basicAuthCalls, bodyAuthCalls    atomic.Int64
	apiCalls, unauthorized, rateLimited                            atomic.Int64
}

// Emulator emulates Spotify's accounts service and Web API. Create it with
// [New]; all methods are safe for concurrent use, also while requests are
// being served, and knobs take effect for the next request.
type Emulator struct {
	clientID, clientSecret string
	refreshLifetime        time.Duration
	now                    func() time.Time

	tokenLifetime atomic.Int64 // time.Duration
	policy        atomic.Int32 // RefreshPolicy
	legacy401     atomic.Bool
	tokenLatency  atomic.Int64 // time.Duration

	// access holds the issued access tokens; it is the hot path of /v1/ and
	// is guarded by its own RWMutex.
	accessMu    sync.RWMutex
	access      map[string]accessToken
	accessSwept time.Time

	// grantMu guards everything about users' authorisations.
	grantMu    sync.Mutex
	refresh    map[string]*refreshEntry
	chains     map[string]*chain // by user id
	codes      map[string]*authCode
	users      int
	grantSwept time.Time

	failMu     sync.Mutex
	failStatus int
	failCount  int // < 0: until ClearFailures

	rlArmed      atomic.Bool // fast path: false when no 429s are pending
	rlMu         sync.Mutex
	rlCount      int // < 0: until ClearFailures or RateLimit(0, "")
	rlRetryAfter string

	copyBufs    sync.Pool // *[]byte for hashing request bodies
	gzipWriters sync.Pool // *gzip.Writer for JSON answers

	base string // Options.BaseURL without a trailing slash

	stats counters
	rate  rateModel // Spotify's rolling-window rate limit (ratelimit.go)
}

// New returns an emulator configured by opts.
func New(opts Options) *Emulator {
	e := &Emulator{
		clientID:        opts.ClientID,
		clientSecret:    opts.ClientSecret,
		refreshLifetime: opts.RefreshTokenLifetime,
		now:             opts.Now,
		base:            strings.TrimRight(opts.BaseURL, "/"),
		access:          make(map[string]accessToken),
		refresh:         make(map[string]*refreshEntry),
		chains:          make(map[string]*chain),
		codes:           make(map[string]*authCode),
	}
	if e.refreshLifetime <= 0 {
		e.refreshLifetime = DefaultRefreshTokenLifetime
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.SetTokenLifetime(opts.TokenLifetime)
	e.SetRefreshPolicy(opts.RefreshPolicy)
	e.SetLegacy401(opts.Legacy401)
	return e
}

// ServeHTTP serves the accounts paths (/api/token, /authorize) and the Web
// API (/v1/...). Every other path answers 404 with a JSON error body.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/api/token":
		e.serveToken(w, r)
	case p == "/authorize":
		e.serveAuthorize(w, r)
	case p == "/v1" || strings.HasPrefix(p, "/v1/"):
		e.serveAPI(w, r)
	default:
		writeAPIError(w, http.StatusNotFound, "Service not found")
	}
}

// SetTokenLifetime sets the lifetime of access tokens issued from now on;
// d <= 0 restores the default of one hour. Tokens already issued keep theirs.
func (e *Emulator) SetTokenLifetime(d time.Duration) {
	if d <= 0 {
		d = DefaultTokenLifetime
	}
	e.tokenLifetime.Store(int64(d))
}

// SetRefreshPolicy sets the policy for refreshes from now on.
func (e *Emulator) SetRefreshPolicy(p RefreshPolicy) { e.policy.Store(int32(p)) }

// SetLegacy401 selects the pre-2026 per-cause 401 messages (true) or the
// single 2026 message (false).
func (e *Emulator) SetLegacy401(on bool) { e.legacy401.Store(on) }

// FailTokenEndpoint makes the next count calls of POST /api/token answer
// status after any latency and before anything else is checked; count < 0
// keeps failing until [Emulator.ClearFailures], count == 0 clears. Bodies
// are Spotify-shaped: 5xx {"error":"server_error"}, 400 invalid_grant
// "Invalid refresh token" (the outage story: valid tokens refused), 401
// invalid_client, 429 with "Retry-After: 1"; other statuses an error named
// after the status.
func (e *Emulator) FailTokenEndpoint(status int, count int) {
	e.failMu.Lock()
	defer e.failMu.Unlock()
	e.failStatus, e.failCount = status, count
}

// ClearFailures ends every injected failure: token endpoint failures and
// pending Web API 429s. Latency and revocations are not failures here.
func (e *Emulator) ClearFailures() {
	e.FailTokenEndpoint(0, 0)
	e.RateLimit(0, "")
}

// SetTokenLatency makes every POST /api/token wait d (real time) before
// answering; a request whose context ends while waiting is answered with
// nothing. d <= 0 removes the latency. No lock is held while waiting.
func (e *Emulator) SetTokenLatency(d time.Duration) { e.tokenLatency.Store(int64(max(d, 0))) }

// RateLimit makes the next count /v1/ requests answer 429 before
// authentication, with "Retry-After: retryAfter" (no header when retryAfter
// is empty). count < 0 limits until [Emulator.ClearFailures]; count == 0
// clears.
func (e *Emulator) RateLimit(count int, retryAfter string) {
	e.rlMu.Lock()
	defer e.rlMu.Unlock()
	e.rlCount, e.rlRetryAfter = count, retryAfter
	e.rlArmed.Store(count != 0)
}

// Stats returns a snapshot of the counters.
func (e *Emulator) Stats() Stats {
	c := &e.stats
	return Stats{
		TokenCalls:            c.tokenCalls.Load(),
		RefreshCalls:          c.refreshCalls.Load(),
		ClientCredentialCalls: c.clientCredentialCalls.Load(),
		CodeExchanges:         c.codeExchanges.Load(),
		InvalidGrants:         c.invalidGrants.Load(),
		TokenFailures:         c.tokenFailures.Load(),
		BasicAuthCalls:        c.basicAuthCalls.Load(),
		BodyAuthCalls:         c.bodyAuthCalls.Load(),
		APICalls:              c.apiCalls.Load(),
		Unauthorized:          c.unauthorized.Load(),
		RateLimited:           c.rateLimited.Load(),
	}
}

// takeFailure consumes one injected token endpoint failure, if any.
func (e *Emulator) takeFailure() (status int, ok bool) {
	e.failMu.Lock()
	defer e.failMu.Unlock()
	if e.failCount == 0 {
		return 0, false
	}
	if e.failCount > 0 {
		e.failCount--
	}
	return e.failStatus, true
}

// takeRateLimit consumes one injected 429, if any. The atomic flag keeps
// the common case (none pending) free of locks.
func (e *Emulator) takeRateLimit() (retryAfter string, ok bool) {
	if !e.rlArmed.Load() {
		return "", false
	}
	e.rlMu.Lock()
	defer e.rlMu.Unlock()
	if e.rlCount == 0 {
		return "", false
	}
	if e.rlCount > 0 {
		e.rlCount--
		if e.rlCount == 0 {
			e.rlArmed.Store(false)
		}
	}
	return e.rlRetryAfter, true
}

// randomToken returns prefix and 32 random bytes in base64url: unguessable
// and never sequential.
func randomToken(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}
