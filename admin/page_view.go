package admin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// Paging of the operator page. The store keeps no index by status, so a filtered
// page reads store pages until it has pageSize matches or has read
// filterReads × filterBatch records; then it offers to go on from where it
// stopped. An unfiltered page is one store page of pageSize records.
const (
	pageSize    = 50
	filterBatch = 250
	filterReads = 4
)

// statusFilters are the values of ?status= ("" is all).
var statusFilters = []string{string(tokenstore.StatusOK), string(tokenstore.StatusReauthRequired), statusCorrupt}

func validStatusFilter(v string) bool {
	if v == "" {
		return true
	}
	for _, f := range statusFilters {
		if v == f {
			return true
		}
	}
	return false
}

// accountPage is one page of the accounts table.
type accountPage struct {
	Rows []accountRow
	// Next is the cursor of the next page ("" on the last one).
	Next string
	// Scanned is set when a filtered page stopped at its read budget before
	// finding pageSize matches: the next page goes on after this account.
	Scanned string
}

// listPage reads one page of accounts after cursor, of status filter ("" all).
func (s *Server) listPage(ctx context.Context, filter, cursor string) (accountPage, error) {
	now := s.now()
	if filter == "" {
		recs, next, err := s.cfg.Tokens.List(ctx, cursor, pageSize)
		if err != nil {
			return accountPage{}, err
		}
		l := accountPage{Next: next}
		for _, rec := range recs {
			l.Rows = append(l.Rows, s.row(rec, now))
		}
		return l, nil
	}
	var l accountPage
	from := cursor
	for range filterReads {
		recs, next, err := s.cfg.Tokens.List(ctx, from, filterBatch)
		if err != nil {
			return accountPage{}, err
		}
		for _, rec := range recs {
			if rowStatus(rec) != filter {
				continue
			}
			l.Rows = append(l.Rows, s.row(rec, now))
			if len(l.Rows) == pageSize {
				// More may follow this one, in this batch or after it.
				if rec.Account != recs[len(recs)-1].Account || next != "" {
					l.Next = rec.Account
				}
				return l, nil
			}
		}
		if next == "" {
			return l, nil
		}
		from = next
	}
	l.Next, l.Scanned = from, from
	return l, nil
}

func rowStatus(rec tokenstore.Record) string {
	if rec.Status == "" {
		return statusCorrupt
	}
	return string(rec.Status)
}

// accountRow is one line of the accounts table: no secrets.
type accountRow struct {
	ID, Status   string
	Scopes       []string
	AccessExpiry string // "" when there is no access token
	AccessLeft   string // "expired", "in 42m"
	RefreshedAt  string
	Trigger      string
	AuthorizedAt string
	Lifetime     lifetimeView
	LastError    string
	App          bool // the client-credentials account: no user, nothing to re-link
}

// lifetimeView is the refresh token's remaining life, shown as a <meter>
// (accessible, and styled without inline style the CSP would block).
type lifetimeView struct {
	// Kind: "left", "expired", "unknown" (no authorized_at), "unlimited"
	// (REFRESH_TOKEN_LIFETIME=0) or "none" (the app account has no refresh token).
	Kind      string
	DaysLeft  int
	Days      int     // the whole lifetime, in days
	Value     float64 // days left, for the meter
	Max       float64 // lifetime in days, for the meter
	Low, High float64
	ExpiresAt string
}

// row builds the table line of rec at now.
func (s *Server) row(rec tokenstore.Record, now time.Time) accountRow {
	r := accountRow{
		ID: rec.Account, Status: rowStatus(rec), Scopes: strings.Fields(rec.Scope),
		RefreshedAt: when(rec.RefreshedAt), AuthorizedAt: when(rec.AuthorizedAt), App: rec.ClientCredentials,
	}
	if r.Status == statusCorrupt {
		r.LastError = "the record cannot be read (wrong TOKEN_ENCRYPTION_KEY or an unknown format)"
		r.Lifetime.Kind = "unknown"
		return r
	}
	if !rec.Expiry.IsZero() {
		r.AccessExpiry = when(rec.Expiry)
		if left := rec.Expiry.Sub(now); left > 0 {
			r.AccessLeft = "in " + shortDuration(left)
		} else {
			r.AccessLeft = "expired"
		}
	}
	switch {
	case rec.Cause != tokenstore.CauseNone:
		r.Trigger = rec.Cause.String()
	case !rec.RefreshedAt.IsZero():
		r.Trigger = "delivered"
	}
	if rec.Status == tokenstore.StatusReauthRequired {
		r.LastError = "Spotify rejected the refresh token (invalid_grant)"
		if !rec.ReauthAt.IsZero() {
			r.LastError += " at " + when(rec.ReauthAt)
		}
		r.LastError += "; the user must sign in again"
	}
	r.Lifetime = s.lifetime(rec, now)
	return r
}

// lifetime is how much of the user's authorisation is left: it ends
// RefreshTokenLifetime after authorized_at, whatever the refreshes.
func (s *Server) lifetime(rec tokenstore.Record, now time.Time) lifetimeView {
	total := s.cfg.RefreshTokenLifetime
	switch {
	case rec.ClientCredentials:
		return lifetimeView{Kind: "none"}
	case total <= 0:
		return lifetimeView{Kind: "unlimited"}
	case rec.AuthorizedAt.IsZero():
		return lifetimeView{Kind: "unknown"}
	}
	end := rec.AuthorizedAt.Add(total)
	left := end.Sub(now)
	day := 24 * time.Hour
	v := lifetimeView{
		Kind: "left", ExpiresAt: when(end), Max: days(total), Days: int(total / day),
		Low: min(14, days(total)/4), High: min(30, days(total)/2),
	}
	if left <= 0 {
		v.Kind = "expired"
		return v
	}
	v.Value = min(days(left), v.Max)
	v.DaysLeft = int(left / day)
	return v
}

func days(d time.Duration) float64 { return d.Hours() / 24 }

// shortDuration is d rounded for people: "3d 4h", "5h 12m", "42m", "30s".
func shortDuration(d time.Duration) string {
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd %dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}
