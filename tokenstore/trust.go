package tokenstore

import "time"

// This file is the 401 rule: which token may answer a caller whose token Spotify
// rejected, and when a 401 causes no refresh at all. Nothing else in the package
// decides either; the Source, the single flight and the refresh protocol ask.
//
// The rule. A revocation kills every access token of its moment, so after a 401 a
// token is trusted only if
//
//   - it is not the rejected token, and
//   - its refresh began after the 401 arrived (Spotify issued it after whatever made
//     Spotify reject ours), or it was itself obtained because of a 401 (a peer
//     refreshed after the same revocation).
//
// A token refreshed earlier for another reason (ahead, expired, admin, delivered) may
// have died with ours, even one a peer obtained while our request was in flight: the
// account is refreshed instead — also after an invalid_grant a peer repaired by
// rotating the refresh token: the peer's refresh token is used, not its access token
// unless trusted. When no refresh can be had now (backoff, the token endpoint or the
// store failing, the lock held by a peer for long), any valid token other than the
// rejected one is still better than an error: a retry with it may work, an error
// certainly fails the caller.
//
// The floor. A 401 for a token that was itself obtained because of a 401, less than
// UnauthorizedRefreshInterval ago, causes no refresh (ErrRefreshTooSoon): a storm of
// 401s costs one token call per interval, not one per request. The stored record's
// refresh time and cause decide, so the floor holds across replicas.

// provenance is where a token came from: when its refresh began and why. It is
// stored with the record (Record.RefreshedAt, Record.Cause).
type provenance struct {
	refreshedAt time.Time
	cause       Cause
}

func provenanceOf(rec Record) provenance {
	return provenance{refreshedAt: rec.RefreshedAt, cause: rec.Cause}
}

// rejection is Spotify's 401 to token, arrived at at. The zero rejection is a caller
// with no 401 (a request, a refresh-ahead, a background re-check of the store).
type rejection struct {
	token string
	at    time.Time
}

func (r rejection) none() bool { return r.token == "" }

// occasion is what a token is offered for.
type occasion uint8

const (
	// instead: the token would answer instead of a refresh (the cache, a flight the
	// caller joined, the store read before or after the lock).
	instead occasion = iota
	// lastResort: no refresh can be had now; the token would answer instead of an error.
	lastResort
)

// mayAnswer reports whether a valid token (tok, of provenance p) may answer a caller
// after rejection r on occasion o. Validity (expiry) is freshness's business, not
// this rule's.
func (r rejection) mayAnswer(tok string, p provenance, o occasion) bool {
	switch {
	case r.none():
		return true
	case tok == r.token:
		return false
	case o == lastResort:
		return true
	default:
		return p.refreshedAt.After(r.at) || p.cause == CauseUnauthorized
	}
}

// floor is the least time between 401-caused refreshes of an account (0: none).
type floor time.Duration

// holds reports whether a 401 (r) must not cause a refresh: rec, as stored, holds
// the rejected token, obtained because of a 401 less than the floor before now. A
// token obtained for any other reason (ahead, expired, delivered) is refreshed after
// its first 401, whatever its age.
func (f floor) holds(rec Record, r rejection, now time.Time) bool {
	return f > 0 && !r.none() && rec.AccessToken == r.token && rec.Cause == CauseUnauthorized &&
		!rec.RefreshedAt.IsZero() && now.Before(rec.RefreshedAt.Add(time.Duration(f)))
}

// takesFlight reports whether a caller after rejection r takes what a flight handed
// back (tok, of provenance p). A flight the caller started (own) applied the rule
// already. A flight started for another reason (a background re-check, a
// refresh-ahead that fell back to the old token, one that got its token before the
// revocation behind the caller's 401) may hand back a token the caller must not use:
// it then waits for a flight of its own.
func (r rejection) takesFlight(tok string, p provenance, own bool) bool {
	return own || r.mayAnswer(tok, p, instead)
}
