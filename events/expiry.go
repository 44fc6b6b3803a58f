package events

import (
	"context"
	"fmt"
	"time"
)

// Defaults of the expiry scan.
const (
	// DefaultExpiryWarning is EXPIRY_WARNING's default.
	DefaultExpiryWarning = 14 * 24 * time.Hour
	// DefaultLifetime is REFRESH_TOKEN_LIFETIME's default (six months: 4380h).
	DefaultLifetime = 4380 * time.Hour
	// DefaultScanEvery is how often the account list is scanned.
	DefaultScanEvery = time.Hour
	scanPage         = 500
	scanLock         = "expiry-scan"
	// scanLockTTL bounds how long a replica that died mid-scan blocks the others.
	scanLockTTL = 10 * time.Minute
)

// Account is what the expiry scan needs of a stored account.
type Account struct {
	ID           string
	Status       string
	AuthorizedAt time.Time // zero: unknown (no warning)
}

// Lister pages through the accounts ordered by id ("" cursor first, "" next when
// done), as the token store lists them.
type Lister func(ctx context.Context, cursor string, limit int) ([]Account, string, error)

// ExpiryScanner emits account.refresh_token_expiring for accounts whose refresh
// token lifetime (authorized_at + Lifetime) ends within Warning. Each account is
// warned once per authorisation: the mark (its authorized_at) is kept in the
// backend with the event, so it holds across replicas and restarts, and a new
// authorisation (a re-link) arms the warning again.
type ExpiryScanner struct {
	Log      *Log
	List     Lister
	Warning  time.Duration // EXPIRY_WARNING (≤ 0: DefaultExpiryWarning)
	Lifetime time.Duration // REFRESH_TOKEN_LIFETIME (0: none, nothing is emitted)
	Every    time.Duration // how often Run scans (≤ 0: DefaultScanEvery)
}

// Scan walks the account list once, if no other replica holds the scan lock, and
// returns how many warnings it emitted. Running two scans at once (a lock that
// expired during a long scan) emits nothing twice.
func (s *ExpiryScanner) Scan(ctx context.Context) (int, error) {
	if s.Lifetime <= 0 {
		return 0, nil
	}
	warning := s.Warning
	if warning <= 0 {
		warning = DefaultExpiryWarning
	}
	ok, err := s.Log.b.tryLock(ctx, scanLock, scanLockTTL)
	if err != nil || !ok {
		return 0, err
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), emitTimeout)
		defer cancel()
		_ = s.Log.b.unlock(uctx, scanLock)
	}()
	emitted := 0
	cursor := ""
	for {
		accts, next, err := s.List(ctx, cursor, scanPage)
		if err != nil {
			return emitted, fmt.Errorf("events: listing accounts: %w", err)
		}
		now := s.Log.now()
		for _, a := range accts {
			if a.AuthorizedAt.IsZero() {
				continue
			}
			end := a.AuthorizedAt.Add(s.Lifetime)
			if now.Before(end.Add(-warning)) {
				continue
			}
			e := Event{Type: AccountRefreshTokenExpiring, Account: a.ID, Status: a.Status, AuthorizedAt: a.AuthorizedAt, ExpiresAt: end}
			once := a.AuthorizedAt.UTC().Format(time.RFC3339Nano)
			_, stored, err := s.Log.emit(ctx, e, once)
			if err != nil {
				return emitted, err
			}
			if stored {
				emitted++
			}
		}
		if next == "" {
			return emitted, nil
		}
		cursor = next
	}
}

func (s *ExpiryScanner) every() time.Duration {
	if s.Every <= 0 {
		return DefaultScanEvery
	}
	return s.Every
}

// Run scans at once and then every Every until ctx ends.
func (s *ExpiryScanner) Run(ctx context.Context) {
	t := time.NewTicker(s.every())
	defer t.Stop()
	for {
		if _, err := s.Scan(ctx); err != nil && ctx.Err() == nil {
			s.Log.log.Warn("events: expiry scan failed; next one in "+s.every().String(), "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
