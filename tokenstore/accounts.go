package tokenstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// accounts is account management over the store: deliveries, seeds, deletes and
// listing. Every change drops the account's cached state here and in every replica
// (changed).
type accounts struct {
	store   Store
	health  *storeHealth
	clk     clock
	changed func(ctx context.Context, account string)
	status  StatusListener
}

// Delivery is a token handed to the proxy by an app, the admin API or the login flow.
type Delivery struct {
	RefreshToken string
	AccessToken  string    // optional
	Expiry       time.Time // of AccessToken
	Scope        string
	ObtainedAt   time.Time // when RefreshToken was obtained; zero: now
	AuthorizedAt time.Time // when the user authorised the app; zero: ObtainedAt
}

// deliver: see Source.Deliver. It retries a version conflict up to 5 times.
func (a *accounts) deliver(ctx context.Context, account string, d Delivery) error {
	if !ValidAccount(account) {
		return ErrBadAccount
	}
	if d.RefreshToken == "" {
		return errors.New("tokenstore: empty refresh token")
	}
	now := a.clk.Now()
	if d.ObtainedAt.IsZero() {
		d.ObtainedAt = now
	}
	if d.AuthorizedAt.IsZero() {
		d.AuthorizedAt = d.ObtainedAt
	}
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := a.store.Get(ctx, account)
		switch {
		case errors.Is(err, ErrNotFound):
			cur = Record{}
		case err != nil:
			a.health.failed(OpRead)
			return err
		}
		if !cur.ObtainedAt.IsZero() && d.ObtainedAt.Before(cur.ObtainedAt) {
			return ErrStaleDelivery
		}
		rec := Record{
			Account: account, RefreshToken: d.RefreshToken, Scope: d.Scope, ObtainedAt: d.ObtainedAt,
			AuthorizedAt: d.AuthorizedAt, Status: StatusOK,
		}
		if d.AccessToken != "" && d.Expiry.After(now) {
			rec.AccessToken, rec.Expiry, rec.RefreshedAt = d.AccessToken, d.Expiry, now
		}
		_, err = a.store.Put(ctx, rec, cur.Version)
		if errors.Is(err, ErrVersionConflict) {
			continue
		}
		if err != nil {
			a.health.failed(OpWrite)
			return err
		}
		a.changed(ctx, account)
		if cur.Status != "" { // a new account is linked, not a status change
			statusChanged(ctx, a.status, cur, rec, now)
		}
		return nil
	}
	return fmt.Errorf("tokenstore: account %q changed during the delivery 5 times: %w", account, ErrVersionConflict)
}

// seed: see Source.Seed.
func (a *accounts) seed(ctx context.Context, account, refreshToken string) (bool, error) {
	if !ValidAccount(account) {
		return false, ErrBadAccount
	}
	_, err := a.store.Get(ctx, account)
	switch {
	case err == nil:
		return false, nil
	case !errors.Is(err, ErrNotFound):
		return false, err
	}
	_, err = a.store.Put(ctx, Record{Account: account, RefreshToken: refreshToken, Status: StatusOK}, 0)
	if errors.Is(err, ErrVersionConflict) {
		return false, nil // another replica seeded it first
	}
	if err != nil {
		return false, err
	}
	a.changed(ctx, account)
	return true, nil
}

// delete: see Source.Delete.
func (a *accounts) delete(ctx context.Context, account string) error {
	if !ValidAccount(account) {
		return ErrBadAccount
	}
	if err := a.store.Delete(ctx, account); err != nil {
		a.health.failed(OpDelete)
		return err
	}
	a.changed(ctx, account)
	return nil
}

// list: see Source.List. A failure is counted as a store error.
func (a *accounts) list(ctx context.Context, cursor string, limit int) ([]Record, string, error) {
	recs, next, err := a.store.List(ctx, cursor, limit)
	if err != nil {
		a.health.failed(OpList)
	}
	return recs, next, err
}

// Deliver stores a delivered token for account. It refuses (ErrStaleDelivery) a
// delivery obtained before the stored refresh token, so a late or repeated delivery
// never overwrites a newer token. Every replica's cache drops the account.
func (s *Source) Deliver(ctx context.Context, account string, d Delivery) error {
	return s.accounts.deliver(ctx, account, d)
}

// Seed stores refreshToken for account only when the store has no record for it, so
// a restart never replaces a rotated token with a stale seed. It reports whether it
// stored the seed.
func (s *Source) Seed(ctx context.Context, account, refreshToken string) (bool, error) {
	return s.accounts.seed(ctx, account, refreshToken)
}

// Delete removes an account everywhere.
func (s *Source) Delete(ctx context.Context, account string) error {
	return s.accounts.delete(ctx, account)
}

// List pages through the stored accounts (no secrets are used by callers).
func (s *Source) List(ctx context.Context, cursor string, limit int) ([]Record, string, error) {
	return s.accounts.list(ctx, cursor, limit)
}

// Ping tells whether the store answers.
func (s *Source) Ping(ctx context.Context) error { return s.cfg.Store.Ping(ctx) }
