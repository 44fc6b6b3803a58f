package tokenstore

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Stores and the Source wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound: the store holds no record for the account.
	ErrNotFound = errors.New("tokenstore: not found")
	// ErrVersionConflict: a conditional write found a version other than the one expected.
	ErrVersionConflict = errors.New("tokenstore: version conflict")
	// ErrCorrupt: a stored record could not be decoded. It is reported, never replaced.
	ErrCorrupt = errors.New("tokenstore: corrupt record")
	// ErrLockTimeout: the distributed refresh lock was not obtained within the wait deadline.
	ErrLockTimeout = errors.New("tokenstore: lock wait timed out")
	// ErrBadAccount: the account id does not match ^[A-Za-z0-9._@-]{1,128}$.
	ErrBadAccount = errors.New("tokenstore: invalid account id")
)

// Status of an account.
type Status string

// Account states.
const (
	StatusOK             Status = "ok"
	StatusReauthRequired Status = "reauth_required"
)

// ValidAccount reports whether id is a valid account id: ^[A-Za-z0-9._@-]{1,128}$.
// It is on the request path, so it is a loop rather than a regexp.
func ValidAccount(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '@', c == '-':
		default:
			return false
		}
	}
	return true
}

// Record is everything stored for one account. Version is assigned by the store:
// 0 means "not stored yet", and every successful Put increments it.
type Record struct {
	Account      string
	Version      int64
	AccessToken  string
	RefreshToken string
	Expiry       time.Time // access token expiry; zero when there is no access token
	Scope        string
	// ObtainedAt is when the stored refresh token was obtained (zero for seeded records).
	ObtainedAt time.Time
	// AuthorizedAt is when the user authorised the app; kept across refreshes.
	AuthorizedAt time.Time
	// RefreshedAt is when the access token was last obtained.
	RefreshedAt time.Time
	// Cause is why it was obtained (ahead, expired, unauthorized, admin);
	// CauseNone for delivered tokens. With RefreshedAt it decides what replicas trust
	// after a 401 (trust.go).
	Cause  Cause
	Status Status
	// ReauthAt is when the account was marked reauth_required.
	ReauthAt time.Time
	// ClientCredentials marks the app account, whose token comes from the
	// client_credentials grant and has no refresh token.
	ClientCredentials bool
	// TraceParent is the W3C traceparent of the sampled span of the refresh that
	// obtained AccessToken ("" when there was none): a replica that takes the token
	// links its own refresh span to it. It identifies a span, nothing more.
	TraceParent string
}

// String keeps secrets out of logs and error messages.
func (r Record) String() string {
	return "Record{account=" + r.Account + " status=" + string(r.Status) + " secrets=REDACTED}"
}

// Store keeps records. Implementations are safe for concurrent use by many
// goroutines and, for shared stores, by many processes.
type Store interface {
	// Get returns the account's record, ErrNotFound, or an error wrapping ErrCorrupt.
	Get(ctx context.Context, account string) (Record, error)
	// Put writes rec if the stored version equals expect (0: no record may exist) and
	// returns the record as stored, with its new version. Otherwise it returns an
	// error wrapping ErrVersionConflict and changes nothing.
	Put(ctx context.Context, rec Record, expect int64) (Record, error)
	// Delete removes the account's record; deleting a missing record is not an error.
	Delete(ctx context.Context, account string) error
	// List returns up to limit records after cursor ("" for the first page), ordered by
	// account id, and the cursor of the next page ("" when done). Records that cannot be
	// decoded are returned with Status "" and an error is not raised for them.
	List(ctx context.Context, cursor string, limit int) ([]Record, string, error)
	// Ping tells whether the store answers (readiness).
	Ping(ctx context.Context) error
}

// Summary is what the account gauges show: accounts by status, the ok accounts
// whose refresh token's lifetime ends soon, and the oldest user authorisation.
type Summary struct {
	OK, ReauthRequired int
	Expiring           int       // see AccountCounts.Expiring
	OldestAuthorizedAt time.Time // zero: no user authorisation stored
	ComputedAt         time.Time
}

// SharedStore is a Store several replicas use at once (RedisStore): sharing is a
// capability the store declares by implementing it, not something the Source infers.
// Over a shared store a Source
//
//   - gives a peer's pending write a grace period (peerGrace) before it refreshes
//     with a refresh token the peer may already have rotated, after a long lock wait,
//     a recent store failure or an invalid_grant;
//   - computes the account gauges on one replica per interval (the SummaryStore
//     methods: listing every record is the only way to count them) and shows what
//     that replica saved on the others.
type SharedStore interface {
	Store
	SummaryStore
}

// SummaryStore saves the account gauges' summary for the replicas of a SharedStore.
type SummaryStore interface {
	// ClaimSummary reports whether the caller is the one to compute the summary now;
	// a claim lasts ttl, and no other caller gets one until it ends.
	ClaimSummary(ctx context.Context, ttl time.Duration) (bool, error)
	// SaveSummary stores the summary for the others, for keep.
	SaveSummary(ctx context.Context, sum Summary, keep time.Duration) error
	// LoadSummary returns the last saved summary; false if there is none.
	LoadSummary(ctx context.Context) (Summary, bool, error)
}

// ValidationClaimer is a store on which Sources take turns at background validation
// (Config.ValidateEvery): the one holding the claim validates, the others skip their
// pass. RedisStore claims for every replica of the deployment; FileStore, used by one
// process, for the Sources of that process.
type ValidationClaimer interface {
	// ClaimValidation reports whether owner holds the claim for the next ttl: it takes
	// a claim nobody holds, extends owner's own, and answers false while another
	// owner's lasts.
	ClaimValidation(ctx context.Context, owner string, ttl time.Duration) (bool, error)
	// ReleaseValidation gives up owner's claim, if owner holds it, so another
	// Source need not wait for it to run out (a replica shutting down).
	ReleaseValidation(ctx context.Context, owner string) error
}

// Locker hands out the per-account refresh lock shared by all replicas.
type Locker interface {
	// Lock waits up to the locker's wait deadline (or ctx) for the account's lock.
	// It returns an error wrapping ErrLockTimeout when the wait ends without the lock.
	Lock(ctx context.Context, account string) (Lease, error)
}

// Lease is a held lock. It is kept alive by the Locker until Release.
type Lease interface {
	// Lost is closed when the lease could not be kept (it expired or was taken).
	Lost() <-chan struct{}
	// Release gives the lock back. Releasing a lost lease is not an error.
	Release(ctx context.Context) error
}

// Notifier tells every replica that an account's record changed, so their caches
// drop it: every change is published (a refresh's write, a pending rotated token
// finally stored, a delivery, a seed, a delete); a Source skips its own messages.
type Notifier interface {
	// Publish announces a change of account.
	Publish(ctx context.Context, account string) error
	// Subscribe calls fn for every change other Notifiers announce until ctx
	// ends. A Notifier's own announcements need not come back to it; if they do,
	// the Source only re-reads the record. subscribed (nil: none) is called each time the subscription is confirmed:
	// changes announced before it may have been missed.
	Subscribe(ctx context.Context, subscribed func(), fn func(account string)) error
}

// Token is what a Refresher returns.
type Token struct {
	AccessToken string
	// RefreshToken is the refresh token the answer carried; empty when it carried
	// none, and then the stored one is kept. A token equal to the stored one is not a
	// rotation either.
	RefreshToken string
	Expiry       time.Time
	Scope        string
}

// Refresher talks to the token endpoint. Errors for a rejected refresh token wrap
// ErrInvalidGrant; everything else (5xx, timeouts, network) is temporary.
type Refresher interface {
	Refresh(ctx context.Context, refreshToken string) (Token, error)
	ClientCredentials(ctx context.Context) (Token, error)
}

// ErrInvalidGrant: the token endpoint rejected the refresh token.
var ErrInvalidGrant = errors.New("tokenstore: invalid_grant")

// nopLocker is the locker of a single-instance store: the in-process single flight
// already serialises refreshes.
type nopLocker struct{}

type nopLease struct{}

func (nopLocker) Lock(context.Context, string) (Lease, error) { return nopLease{}, nil }
func (nopLease) Lost() <-chan struct{}                        { return nil }
func (nopLease) Release(context.Context) error                { return nil }

// NopLocker returns a Locker for a store used by one process only.
func NopLocker() Locker { return nopLocker{} }
