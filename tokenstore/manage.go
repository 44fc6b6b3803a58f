package tokenstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

// Delivery is a token handed to the proxy by an app, the admin API or the login flow.
type Delivery struct {
	RefreshToken string
	AccessToken  string    // optional
	Expiry       time.Time // of AccessToken
	Scope        string
	ObtainedAt   time.Time // when RefreshToken was obtained; zero: now
	AuthorizedAt time.Time // when the user authorised the app; zero: ObtainedAt
}

// Deliver stores a delivered token for account. It refuses (ErrStaleDelivery) a
// delivery obtained before the stored refresh token, so a late or repeated delivery
// never overwrites a newer token. Every replica's cache drops the account.
func (s *Source) Deliver(ctx context.Context, account string, d Delivery) error {
	if !ValidAccount(account) {
		return ErrBadAccount
	}
	if d.RefreshToken == "" {
		return errors.New("tokenstore: empty refresh token")
	}
	now := s.now()
	if d.ObtainedAt.IsZero() {
		d.ObtainedAt = now
	}
	if d.AuthorizedAt.IsZero() {
		d.AuthorizedAt = d.ObtainedAt
	}
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := s.cfg.Store.Get(ctx, account)
		switch {
		case errors.Is(err, ErrNotFound):
			cur = Record{}
		case err != nil:
			s.storeError(metrics.OpRead)
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
		_, err = s.cfg.Store.Put(ctx, rec, cur.Version)
		if errors.Is(err, ErrVersionConflict) {
			continue
		}
		if err != nil {
			s.storeError(metrics.OpWrite)
			return err
		}
		s.changed(ctx, account)
		return nil
	}
	return fmt.Errorf("tokenstore: account %q changed during the delivery 5 times: %w", account, ErrVersionConflict)
}

// Seed stores refreshToken for account only when the store has no record for it, so
// a restart never replaces a rotated token with a stale seed. It reports whether it
// stored the seed.
func (s *Source) Seed(ctx context.Context, account, refreshToken string) (bool, error) {
	if !ValidAccount(account) {
		return false, ErrBadAccount
	}
	_, err := s.cfg.Store.Get(ctx, account)
	switch {
	case err == nil:
		return false, nil
	case !errors.Is(err, ErrNotFound):
		return false, err
	}
	_, err = s.cfg.Store.Put(ctx, Record{Account: account, RefreshToken: refreshToken, Status: StatusOK}, 0)
	if errors.Is(err, ErrVersionConflict) {
		return false, nil // another replica seeded it first
	}
	if err != nil {
		return false, err
	}
	s.changed(ctx, account)
	return true, nil
}

// Delete removes an account everywhere.
func (s *Source) Delete(ctx context.Context, account string) error {
	if !ValidAccount(account) {
		return ErrBadAccount
	}
	if err := s.cfg.Store.Delete(ctx, account); err != nil {
		s.storeError(metrics.OpDelete)
		return err
	}
	s.changed(ctx, account)
	return nil
}

// changed drops every local copy of the account (an admin write or delete must not
// be answered from memory, even during a store outage) and tells the peers.
func (s *Source) changed(ctx context.Context, account string) {
	e := s.entry(account)
	e.state.Store(nil)
	e.lastGood.Store(nil)
	s.notifyFrom(ctx, e)
}

// List pages through the stored accounts (no secrets are used by callers).
func (s *Source) List(ctx context.Context, cursor string, limit int) ([]Record, string, error) {
	recs, next, err := s.cfg.Store.List(ctx, cursor, limit)
	if err != nil {
		s.storeError(metrics.OpList)
	}
	return recs, next, err
}

// Ping tells whether the store answers.
func (s *Source) Ping(ctx context.Context) error { return s.cfg.Store.Ping(ctx) }

// ScanAccounts recomputes the account gauges (accounts by status, age of the oldest
// authorisation) from the store. Run calls it every ScanInterval, so scrapes never
// scan the store. On a store that replicas share (SummaryStore), one replica per
// interval lists the records and saves the summary; the others show what it saved.
func (s *Source) ScanAccounts(ctx context.Context) {
	interval := s.cfg.ScanInterval
	if interval <= 0 { // scans only on demand
		interval = time.Minute
	}
	ss, shared := s.cfg.Store.(SummaryStore)
	if shared {
		// The claim ends a little before the next tick, so each interval has a claimant
		// even when the replicas' tickers drift.
		mine, err := ss.ClaimSummary(ctx, interval*9/10)
		if err != nil {
			s.storeError(metrics.OpList)
			if ctx.Err() == nil {
				s.log.Warn("claiming the account summary failed", "error", err)
			}
			return
		}
		if !mine {
			sum, ok, err := ss.LoadSummary(ctx)
			switch {
			case errors.Is(err, ErrCorrupt):
				// Counted, but not as a store outage: refreshes do not slow down for a
				// gauge key, and the next claimant overwrites it.
				s.m.StoreError(metrics.OpList)
				s.log.Warn("the account summary is unreadable; the gauges keep their values", "error", err)
			case err != nil:
				s.storeError(metrics.OpList)
				if ctx.Err() == nil {
					s.log.Warn("reading the account summary failed", "error", err)
				}
			case ok:
				s.showSummary(sum)
			default:
				s.log.Debug("no account summary yet; another replica computes it this interval")
			}
			return
		}
	}
	sum, err := s.summarize(ctx)
	if err != nil {
		s.storeError(metrics.OpList)
		if ctx.Err() == nil {
			s.log.Warn("listing accounts for the gauges failed", "error", err)
		}
		return
	}
	s.showSummary(sum)
	if shared {
		if err := ss.SaveSummary(ctx, sum, 3*interval); err != nil {
			s.storeError(metrics.OpWrite)
			s.log.Warn("saving the account summary failed", "error", err)
		}
	}
}

// summarize lists every record.
func (s *Source) summarize(ctx context.Context) (Summary, error) {
	var sum Summary
	cursor := ""
	for {
		recs, next, err := s.cfg.Store.List(ctx, cursor, 500)
		if err != nil {
			return Summary{}, err
		}
		for _, r := range recs {
			switch r.Status {
			case StatusOK:
				sum.OK++
			case StatusReauthRequired:
				sum.ReauthRequired++
			}
			if !r.ClientCredentials && !r.AuthorizedAt.IsZero() &&
				(sum.OldestAuthorizedAt.IsZero() || r.AuthorizedAt.Before(sum.OldestAuthorizedAt)) {
				sum.OldestAuthorizedAt = r.AuthorizedAt
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	sum.ComputedAt = s.now()
	return sum, nil
}

func (s *Source) showSummary(sum Summary) {
	var age time.Duration
	if !sum.OldestAuthorizedAt.IsZero() {
		age = s.now().Sub(sum.OldestAuthorizedAt)
	}
	s.m.SetAccounts(sum.OK, sum.ReauthRequired, age)
}
