package events

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/testclock"
)

// Status transitions become reauth_required and recovered events, once per
// transition; other changes emit nothing.
func TestStatusObserver(t *testing.T) {
	f := newFixture(t, openFile(t, tempEventsFile(t), nil), nil, Options{Lifetime: 4380 * time.Hour})
	ctx := context.Background()
	var obs StatusObserver = f.log
	auth := t0.Add(-24 * time.Hour)
	obs.OnStatusChange(ctx, StatusChange{Account: "a", From: "", To: StatusOK, At: t0, AuthorizedAt: auth})
	obs.OnStatusChange(ctx, StatusChange{Account: "a", From: StatusOK, To: StatusReauthRequired, At: t0.Add(time.Minute), AuthorizedAt: auth})
	obs.OnStatusChange(ctx, StatusChange{Account: "a", From: StatusReauthRequired, To: StatusOK, At: t0.Add(time.Hour), AuthorizedAt: auth})
	es, err := f.log.Recent(ctx, 10)
	if err != nil || len(es) != 2 {
		t.Fatalf("recent %+v %v", es, err)
	}
	if es[1].Type != AccountReauthRequired || es[1].Status != StatusReauthRequired || !es[1].Time.Equal(t0.Add(time.Minute)) ||
		!es[1].ExpiresAt.Equal(auth.Add(4380*time.Hour)) {
		t.Errorf("first event %+v", es[1])
	}
	if es[0].Type != AccountRecovered || es[0].Status != StatusOK {
		t.Errorf("second event %+v", es[0])
	}
	if v := testutil.ToFloat64(f.m.Events.WithLabelValues("account.recovered")); v != 1 {
		t.Errorf("events_total{type=account.recovered} = %v", v)
	}
}

func lister(accts ...Account) Lister {
	return func(_ context.Context, cursor string, limit int) ([]Account, string, error) {
		i := 0
		for i < len(accts) && accts[i].ID <= cursor {
			i++
		}
		end := min(i+limit, len(accts))
		next := ""
		if end < len(accts) {
			next = accts[end-1].ID
		}
		return accts[i:end], next, nil
	}
}

// account.refresh_token_expiring is emitted once per account and authorisation:
// not before EXPIRY_WARNING ahead of the lifetime's end, not twice across two
// replicas or a restart, and again after a re-link.
func TestExpiryWarningOncePerAuthorisation(t *testing.T) {
	const lifetime, warning = 4380 * time.Hour, 14 * 24 * time.Hour
	for name, newBackend := range map[string]func(t *testing.T) func() Backend{
		"redis, two replicas": func(t *testing.T) func() Backend {
			c := newMiniredis(t)
			return func() Backend { return NewRedisBackend(c, RedisOptions{Prefix: "p:"}) }
		},
		"file, restarts": func(t *testing.T) func() Backend {
			path := tempEventsFile(t)
			return func() Backend { return openFile(t, path, nil) }
		},
	} {
		t.Run(name, func(t *testing.T) {
			backend := newBackend(t)
			clock := testclock.New(t0)
			soon := t0.Add(-lifetime + warning - time.Hour) // inside the warning window
			later := t0.Add(-lifetime + warning + time.Hour)
			accts := []Account{
				{ID: "a", Status: StatusOK, AuthorizedAt: soon},
				{ID: "b", Status: StatusOK, AuthorizedAt: later},
				{ID: "c", Status: StatusReauthRequired, AuthorizedAt: soon},
				{ID: "d", Status: StatusOK}, // authorisation unknown
			}
			scan := func(accts []Account) int {
				f := newFixture(t, backend(), clock, Options{Lifetime: lifetime})
				s := &ExpiryScanner{Log: f.log, List: lister(accts...), Warning: warning, Lifetime: lifetime, Every: time.Nanosecond}
				n, err := s.Scan(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := scan(accts); n != 2 {
				t.Fatalf("first scan emitted %d, want 2 (a, c)", n)
			}
			if n := scan(accts); n != 0 {
				t.Fatalf("second scan (another replica / after a restart) emitted %d", n)
			}
			clock.Add(2 * time.Hour) // b enters its window
			if n := scan(accts); n != 1 {
				t.Fatalf("scan after b entered the window emitted %d, want 1", n)
			}
			accts[0].AuthorizedAt = clock.Now().Add(-lifetime + time.Hour) // a re-linked, and near its end again
			if n := scan(accts); n != 1 {
				t.Fatalf("scan after a new authorisation emitted %d, want 1", n)
			}
			f := newFixture(t, backend(), clock, Options{})
			es, _ := f.log.Recent(context.Background(), 10)
			if len(es) != 4 || es[0].Type != AccountRefreshTokenExpiring || !es[0].ExpiresAt.Equal(accts[0].AuthorizedAt.Add(lifetime)) {
				t.Fatalf("events %+v", es)
			}
		})
	}
}

// REFRESH_TOKEN_LIFETIME=0 means no lifetime: nothing to warn about.
func TestExpiryWithoutLifetime(t *testing.T) {
	f := newFixture(t, openFile(t, tempEventsFile(t), nil), nil, Options{})
	s := &ExpiryScanner{Log: f.log, List: lister(Account{ID: "a", AuthorizedAt: t0.AddDate(-5, 0, 0)})}
	if n, err := s.Scan(context.Background()); n != 0 || err != nil {
		t.Fatalf("emitted %d, %v", n, err)
	}
}
