package events

import (
	"context"
	"time"
)

// StatusChange is an account's status transition, as the token source sees it.
type StatusChange struct {
	Account string
	// From and To are token store statuses ("ok", "reauth_required"); From is ""
	// for an account that had no record.
	From, To string
	// At is when the transition happened.
	At time.Time
	// AuthorizedAt is the account's authorisation time (zero: unknown).
	AuthorizedAt time.Time
}

// StatusObserver is told of account status transitions. The token source calls it
// after the new status is stored, once per transition (not per refresh), from the
// goroutine that stored it; an implementation must return quickly.
type StatusObserver interface {
	OnStatusChange(ctx context.Context, c StatusChange)
}

// OnStatusChange implements StatusObserver: a change to reauth_required emits
// account.reauth_required; reauth_required back to ok emits account.recovered.
// Other transitions emit nothing (a new account is account.linked, from the admin
// API).
func (l *Log) OnStatusChange(ctx context.Context, c StatusChange) {
	var typ Type
	switch {
	case c.To == StatusReauthRequired && c.From != StatusReauthRequired:
		typ = AccountReauthRequired
	case c.From == StatusReauthRequired && c.To == StatusOK:
		typ = AccountRecovered
	default:
		return
	}
	_, _ = l.Emit(ctx, Event{Type: typ, Account: c.Account, Time: c.At, Status: c.To, AuthorizedAt: c.AuthorizedAt})
}
