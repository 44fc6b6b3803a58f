package tokenstore

import "time"

// expirySkew: a token this close to its expiry is no longer handed out.
const expirySkew = time.Second

// freshness is the time windows a token is judged by:
//
//	refreshedAt ........ freshUntil ........ validUntil ... expiry
//	   served as is    | served, refreshed ahead |  not served (skew)
//
// freshUntil is expiry minus the refresh-ahead window, which is Config.RefreshAhead
// capped at half the token's lifetime (so a token shorter-lived than the window is
// refreshed once, not on every request), and at least expirySkew.
type freshness struct {
	ahead time.Duration // Config.RefreshAhead, ≥ 0
}

// window is the refresh-ahead window of rec's token.
func (f freshness) window(rec Record) time.Duration {
	a := f.ahead
	if !rec.RefreshedAt.IsZero() {
		if half := rec.Expiry.Sub(rec.RefreshedAt) / 2; half > 0 && a > half {
			a = half
		}
	}
	return a
}

// freshUntil: before it, rec's token is served without refreshing.
func (f freshness) freshUntil(rec Record) time.Time {
	return rec.Expiry.Add(-max(f.window(rec), expirySkew))
}

// validUntil: before it, rec's token is served (refreshing ahead after freshUntil).
func (freshness) validUntil(rec Record) time.Time { return rec.Expiry.Add(-expirySkew) }

// valid reports whether rec holds a token that may be handed out at now.
func (f freshness) valid(rec Record, now time.Time) bool {
	return rec.Status == StatusOK && rec.AccessToken != "" && now.Before(f.validUntil(rec))
}

// fresh reports whether rec holds a valid token outside its refresh-ahead window.
func (f freshness) fresh(rec Record, now time.Time) bool {
	return rec.Status == StatusOK && rec.AccessToken != "" && now.Before(f.freshUntil(rec))
}
