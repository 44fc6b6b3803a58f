package tokenstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// statusLog records the status changes a Source reports.
type statusLog struct {
	mu      sync.Mutex
	changes []tokenstore.StatusChange
}

func (l *statusLog) StatusChanged(_ context.Context, c tokenstore.StatusChange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes = append(l.changes, c)
}

func (l *statusLog) take() []tokenstore.StatusChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.changes
	l.changes = nil
	return c
}

func wantChange(t *testing.T, got []tokenstore.StatusChange, account string, from, to tokenstore.Status) {
	t.Helper()
	if len(got) != 1 || got[0].Account != account || got[0].From != from || got[0].To != to || got[0].At.IsZero() {
		t.Fatalf("status changes = %+v, want one %s: %q → %q", got, account, from, to)
	}
}

// The listener hears each status change once, from the write that made it: an
// invalid_grant marking reauth_required, a refresh that works again, a delivery
// over a reauth_required account; a new account and unchanged statuses say nothing.
func TestStatusChangesAreReported(t *testing.T) {
	var log statusLog
	f := newFixture(t, func(c *tokenstore.Config) { c.ReauthBackoff = 5 * time.Minute; c.Status = &log })
	ctx := context.Background()
	if _, err := f.src.Seed(ctx, "alice", "dead-token"); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); len(got) != 0 {
		t.Fatalf("a new account reported %+v", got)
	}
	for range 3 {
		_, _ = f.src.Token(ctx, "alice")
	}
	wantChange(t, log.take(), "alice", tokenstore.StatusOK, tokenstore.StatusReauthRequired)

	// The same refresh token works again (Spotify recovered): the retry after the
	// backoff refreshes it and the account is ok again.
	f.sp.mu.Lock()
	f.sp.live["dead-token"] = true
	f.sp.mu.Unlock()
	f.clock.Add(6 * time.Minute)
	if _, err := f.src.Token(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	wantChange(t, log.take(), "alice", tokenstore.StatusReauthRequired, tokenstore.StatusOK)
	if _, err := f.src.Token(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); len(got) != 0 {
		t.Fatalf("an ok account's token reported %+v", got)
	}

	// A delivery over a reauth_required account.
	if _, err := f.src.Seed(ctx, "bob", "dead-too"); err != nil {
		t.Fatal(err)
	}
	_, _ = f.src.Token(ctx, "bob")
	wantChange(t, log.take(), "bob", tokenstore.StatusOK, tokenstore.StatusReauthRequired)
	if err := f.src.Deliver(ctx, "bob", tokenstore.Delivery{RefreshToken: f.sp.issue()}); err != nil {
		t.Fatal(err)
	}
	wantChange(t, log.take(), "bob", tokenstore.StatusReauthRequired, tokenstore.StatusOK)
}
