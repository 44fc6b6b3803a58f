package tokenstore

import (
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

func TestPendingWriteIsFlushedOrDropped(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	st, err := OpenFileStore(filepath.Join(t.TempDir(), "tokens.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	clk := newClock(func() time.Time { return now })
	c := &cache{limit: 10}
	log := slog.New(slog.DiscardHandler)
	pw := &pendingWrites{store: st, health: &storeHealth{obs: nopObserver{}, clk: clk}, inval: &invalidations{cache: c, log: log}, log: log, clk: clk}
	put := func(rt string, expect int64) Record {
		t.Helper()
		r, err := st.Put(ctx, Record{Account: "a", RefreshToken: rt, Status: StatusOK}, expect)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	read := put("rt1", 0)
	e := c.get("a", now)

	// A peer marked the account meanwhile, still with the dead token: ours is written over it.
	marked := read
	marked.Status = StatusReauthRequired
	if _, err := st.Put(ctx, marked, read.Version); err != nil {
		t.Fatal(err)
	}
	e.pending.w = &pendingWrite{read: read, next: Record{Account: "a", RefreshToken: "rt2", Status: StatusOK}}
	if err := pw.flush(ctx, e); err != nil || e.pending.w != nil {
		t.Fatalf("flush: %v, pending %v", err, e.pending.w)
	}
	if got, _ := st.Get(ctx, "a"); got.RefreshToken != "rt2" || got.Status != StatusOK {
		t.Fatalf("stored %q %s, want the pending rt2", got.RefreshToken, got.Status)
	}

	// A newer record with another refresh token supersedes the pending one.
	cur, _ := st.Get(ctx, "a")
	put("rt3", cur.Version)
	e.pending.w = &pendingWrite{read: cur, next: Record{Account: "a", RefreshToken: "rt2b", Status: StatusOK}}
	if err := pw.flush(ctx, e); err != nil || e.pending.w != nil {
		t.Fatalf("superseded: %v, pending %v", err, e.pending.w)
	}
	if got, _ := st.Get(ctx, "a"); got.RefreshToken != "rt3" {
		t.Fatalf("stored %q, want the newer rt3", got.RefreshToken)
	}

	// A deleted account drops it.
	cur, _ = st.Get(ctx, "a")
	if err := st.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	e.pending.w = &pendingWrite{read: cur, next: Record{Account: "a", RefreshToken: "rt4", Status: StatusOK}}
	if err := pw.flush(ctx, e); err != nil || e.pending.w != nil {
		t.Fatalf("deleted: %v, pending %v", err, e.pending.w)
	}
	if _, err := st.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a deleted account was re-created: %v", err)
	}
}
