package tokenstore

import (
	"context"
	"time"
)

// StatusChange is an account's move between statuses, as written to the store.
type StatusChange struct {
	Account string
	// From is the status before ("" for an account that had no record); To after.
	From, To Status
	At       time.Time
	// AuthorizedAt is when the user authorised the app (zero: unknown).
	AuthorizedAt time.Time
}

// StatusListener is told of status changes (Config.Status). It is called by the
// replica whose compare-and-set write made the change, after the write, with no
// lock held: once per change across replicas. It should return quickly.
type StatusListener interface {
	StatusChanged(ctx context.Context, c StatusChange)
}

// statusChanged tells l of a write that moved an account from one status to
// another; nil l or an unchanged status tells nothing.
func statusChanged(ctx context.Context, l StatusListener, from, to Record, at time.Time) {
	if l == nil || from.Status == to.Status {
		return
	}
	l.StatusChanged(ctx, StatusChange{Account: to.Account, From: from.Status, To: to.Status, At: at, AuthorizedAt: to.AuthorizedAt})
}
