package tokenstore

import "time"

// Cause is why an access token was obtained. It is stored with the record
// (Record.Cause) and decides what peers trust after a 401, so its stored form is
// fixed by the codec (causeText), not by a metric label: package metrics maps a
// Cause to its label value.
type Cause uint8

// Causes of a token.
const (
	CauseNone         Cause = iota // not obtained by a refresh: a delivered or seeded record
	CauseAhead                     // refreshed ahead of its expiry, in the background
	CauseExpired                   // refreshed because the token had expired (or none was cached)
	CauseUnauthorized              // refreshed because Spotify answered 401 to the previous token
	CauseLogin                     // obtained by the login flow (counted by admin; not stored)
	CauseAdmin                     // refreshed because the admin API asked for a fresh token
	CauseValidate                  // refreshed by background validation (Config.ValidateEvery)
)

// causeText is each Cause's stored form. Records written before Cause existed hold
// these strings, so they must never change.
var causeText = [...]string{
	CauseNone:         "",
	CauseAhead:        "ahead",
	CauseExpired:      "expired",
	CauseUnauthorized: "unauthorized",
	CauseLogin:        "login",
	CauseAdmin:        "admin",
	CauseValidate:     "validate",
}

// String is the stored form ("" for CauseNone).
func (c Cause) String() string {
	if int(c) < len(causeText) {
		return causeText[c]
	}
	return ""
}

// parseCause reads a stored cause. A string this build does not know is CauseNone
// (so an older build reads "validate" as a delivered token's): only
// CauseUnauthorized changes what the Source trusts.
func parseCause(s string) Cause {
	for c, t := range causeText {
		if t == s {
			return Cause(c)
		}
	}
	return CauseNone
}

// RefreshResult is how a token-endpoint call ended.
type RefreshResult uint8

// Results of a token-endpoint call.
const (
	ResultSuccess      RefreshResult = iota
	ResultInvalidGrant               // the refresh token was rejected
	ResultError                      // a temporary failure (5xx, timeout, network)
)

// Race is how a refresh race between callers or replicas was resolved.
type Race uint8

// Outcomes of refresh races.
const (
	RaceCoalesced             Race = iota // a caller joined a refresh already running in this process
	RacePeerRefreshed                     // a peer's token, found after waiting for the lock, was used
	RaceLockTimeout                       // the lock stayed taken; a stored token was used
	RaceStaleWriteRejected                // our result was discarded: the record changed meanwhile
	RaceInvalidGrantRecovered             // invalid_grant, but a peer had rotated the refresh token
)

// StoreOp is a kind of store operation, for counting failures.
type StoreOp uint8

// Store operations.
const (
	OpRead StoreOp = iota
	OpWrite
	OpDelete
	OpList
	OpLock
)

// Observer receives what a Source counts. *metrics.Metrics implements it (and maps
// these types to label values); a nil Observer records nothing.
type Observer interface {
	// Refreshed reports a token-endpoint call. traceID is the trace of the refresh's
	// span when it is sampled (the duration's exemplar), "" otherwise.
	Refreshed(cause Cause, result RefreshResult, took time.Duration, traceID string)
	Raced(outcome Race)
	StoreFailed(op StoreOp)
	LockWaited(d time.Duration)
	// AccountsCounted reports the account gauges.
	AccountsCounted(c AccountCounts)
}

// AccountCounts is what the account gauges show.
type AccountCounts struct {
	OK, ReauthRequired int
	// Expiring is the number of ok accounts whose refresh token's lifetime
	// (AuthorizedAt + Config.RefreshTokenLifetime) ends within Config.ExpiryWarning,
	// or has ended; 0 without a lifetime.
	Expiring int
	// OldestAuthorization is the age of the oldest user authorisation (0: none).
	OldestAuthorization time.Duration
}

type nopObserver struct{}

func (nopObserver) Refreshed(Cause, RefreshResult, time.Duration, string) {}
func (nopObserver) Raced(Race)                                            {}
func (nopObserver) StoreFailed(StoreOp)                                   {}
func (nopObserver) LockWaited(time.Duration)                              {}
func (nopObserver) AccountsCounted(AccountCounts)                         {}
