package tokenstore_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/testclock"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

const validateEvery = 24 * time.Hour

// validating is a Source with background validation whose passes the test runs
// (ValidatePass; Run is not called): each of the validator's waits moves the
// manual clock by its duration, so a pass takes fake time, never real time.
type validating struct {
	clock  *clock
	sp     *fakeSpotify
	store  tokenstore.Store
	src    *tokenstore.Source
	m      *metrics.Metrics
	status *statusLog
}

func newValidating(t *testing.T, clk *clock, sp *fakeSpotify, store tokenstore.Store, mutate ...func(*tokenstore.Config)) *validating {
	t.Helper()
	v := &validating{clock: clk, sp: sp, store: store, m: metrics.New(prometheus.NewRegistry()), status: &statusLog{}}
	cfg := tokenstore.Config{
		Store: store, Refresher: sp, Metrics: v.m, Status: v.status, Now: clk.Now, AppAccount: "app",
		ScanInterval: -1, ValidateEvery: validateEvery, ValidatePace: time.Second, ReauthBackoff: 5 * time.Minute,
	}
	tokenstore.WithValidationSleep(&cfg, func(ctx context.Context, d time.Duration) bool {
		if ctx.Err() != nil {
			return false
		}
		clk.Add(d)
		return true
	})
	for _, fn := range mutate {
		fn(&cfg)
	}
	v.src = tokenstore.NewSource(cfg)
	t.Cleanup(v.src.Close)
	return v
}

func newFileValidating(t *testing.T) *validating {
	t.Helper()
	clk := newClock()
	st, err := tokenstore.OpenFileStore(filepath.Join(t.TempDir(), "tokens.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newValidating(t, clk, newFakeSpotify(clk.Now, time.Hour), st)
}

// put stores an ok account whose refresh token was obtained (and last used) age ago.
func (v *validating) put(t *testing.T, account, refreshToken string, age time.Duration) {
	t.Helper()
	at := v.clock.Now().Add(-age)
	rec := tokenstore.Record{Account: account, RefreshToken: refreshToken, Status: tokenstore.StatusOK,
		ObtainedAt: at, AuthorizedAt: at, RefreshedAt: at, AccessToken: "at-old-" + account, Expiry: at.Add(time.Hour)}
	if _, err := v.store.Put(context.Background(), rec, 0); err != nil {
		t.Fatal(err)
	}
}

func (v *validating) get(t *testing.T, account string) tokenstore.Record {
	t.Helper()
	rec, err := v.store.Get(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func (v *validating) pass(t *testing.T) int {
	t.Helper()
	tried, ran := v.src.ValidatePass(context.Background())
	if !ran {
		t.Fatal("the pass did not run")
	}
	return tried
}

// An account whose refresh token has not been used within VALIDATE_EVERY is
// refreshed through the refresh protocol (counted with trigger validate, written
// with its cause), even while its access token is valid; one used within it is not;
// the app account never is.
func TestValidationRefreshesStaleAccountsOnly(t *testing.T) {
	v := newFileValidating(t)
	v.put(t, "stale", v.sp.issue(), validateEvery+time.Minute)
	v.put(t, "fresh", v.sp.issue(), validateEvery-time.Hour)
	// Delivered with an access token that is still valid, but its refresh token
	// has not been used within VALIDATE_EVERY.
	valid := tokenstore.Record{Account: "valid", RefreshToken: v.sp.issue(), Status: tokenstore.StatusOK,
		ObtainedAt: v.clock.Now().Add(-2 * validateEvery), AccessToken: "at-old-valid", Expiry: v.clock.Now().Add(50 * time.Minute)}
	if _, err := v.store.Put(context.Background(), valid, 0); err != nil {
		t.Fatal(err)
	}
	app := tokenstore.Record{Account: "app", ClientCredentials: true, Status: tokenstore.StatusOK}
	if _, err := v.store.Put(context.Background(), app, 0); err != nil {
		t.Fatal(err)
	}
	before := v.clock.Now()

	if got := v.pass(t); got != 2 {
		t.Fatalf("pass refreshed %d accounts, want 2", got)
	}
	if got := v.sp.calls.Load(); got != 2 || v.sp.ccCalls.Load() != 0 {
		t.Fatalf("token calls = %d refresh, %d client credentials; want 2, 0", got, v.sp.ccCalls.Load())
	}
	if got := refreshes(v.m, metrics.TriggerValidate, metrics.ResultSuccess); got != 2 {
		t.Fatalf("validate/success = %v, want 2", got)
	}
	for _, account := range []string{"stale", "valid"} {
		rec := v.get(t, account)
		if rec.Cause != tokenstore.CauseValidate || rec.RefreshedAt.Before(before) || rec.AccessToken == "at-old-"+account {
			t.Fatalf("%s account after the pass: cause %v, refreshed %v", account, rec.Cause, rec.RefreshedAt)
		}
	}
	if fresh := v.get(t, "fresh"); fresh.AccessToken != "at-old-fresh" {
		t.Fatal("an account used within VALIDATE_EVERY was refreshed")
	}
	// The next pass finds nothing to do.
	if got := v.pass(t); got != 0 || v.sp.calls.Load() != 2 {
		t.Fatalf("second pass refreshed %d (token calls %d)", got, v.sp.calls.Load())
	}
}

// N stale accounts at VALIDATE_RATE r take at least N/r: the token calls are at
// least 1/r apart, the first 1/r after the pass began.
func TestValidationIsPaced(t *testing.T) {
	v := newFileValidating(t)
	var mu sync.Mutex
	var calls []time.Time
	v.sp.gate = func(int64) {
		mu.Lock()
		calls = append(calls, v.clock.Now())
		mu.Unlock()
	}
	const n = 6
	for i := range n {
		v.put(t, string(rune('a'+i)), v.sp.issue(), validateEvery+time.Duration(i)*time.Minute)
	}
	start := v.clock.Now()
	if got := v.pass(t); got != n {
		t.Fatalf("pass refreshed %d, want %d", got, n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != n {
		t.Fatalf("%d token calls, want %d", len(calls), n)
	}
	prev := start
	for i, at := range calls {
		if gap := at.Sub(prev); gap < time.Second {
			t.Errorf("token call %d came %s after the previous one, want ≥ 1s", i+1, gap)
		}
		prev = at
	}
	if took := v.clock.Now().Sub(start); took < n*time.Second {
		t.Errorf("%d accounts at 1/s took %s of fake time, want ≥ %s", n, took, n*time.Second)
	}
}

// The pace counts from the start of the previous refresh: a token call that takes
// 600ms does not stretch the 1s pace to 1.6s.
func TestValidationPaceIsNotSlowedByTheTokenCall(t *testing.T) {
	v := newFileValidating(t)
	var mu sync.Mutex
	var calls []time.Time
	v.sp.gate = func(int64) {
		mu.Lock()
		calls = append(calls, v.clock.Now())
		mu.Unlock()
		v.clock.Add(600 * time.Millisecond) // the call's own time
	}
	const n = 5
	for i := range n {
		v.put(t, string(rune('a'+i)), v.sp.issue(), validateEvery+time.Duration(i)*time.Minute)
	}
	if got := v.pass(t); got != n {
		t.Fatalf("pass refreshed %d, want %d", got, n)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].Sub(calls[i-1]); gap < time.Second || gap > 1250*time.Millisecond {
			t.Errorf("token call %d started %s after the previous one, want 1s to 1.25s (pace plus jitter)", i+1, gap)
		}
	}
}

// A revoked grant is found by the pass, with no request: the account turns
// reauth_required and the listener hears it once.
func TestValidationFindsRevokedAccount(t *testing.T) {
	v := newFileValidating(t)
	v.put(t, "alice", "revoked-token", validateEvery+time.Hour)
	v.pass(t)
	if rec := v.get(t, "alice"); rec.Status != tokenstore.StatusReauthRequired || rec.RefreshToken != "revoked-token" {
		t.Fatalf("after the pass: status %s, refresh token kept %v", rec.Status, rec.RefreshToken == "revoked-token")
	}
	wantChange(t, v.status.take(), "alice", tokenstore.StatusOK, tokenstore.StatusReauthRequired)
	if got := refreshes(v.m, metrics.TriggerValidate, metrics.ResultInvalidGrant); got != 1 {
		t.Fatalf("validate/invalid_grant = %v, want 1", got)
	}
}

// A reauth_required account is tried again on its backoff, not on every pass:
// not before ReauthBackoff after it was marked, then not before the doubled
// backoff after each try in vain; when it works again it is ok.
func TestValidationRetriesReauthRequiredOnBackoff(t *testing.T) {
	v := newFileValidating(t)
	v.put(t, "alice", "revoked-token", validateEvery+time.Hour)
	v.pass(t)
	calls := func() int64 { return v.sp.calls.Load() }
	if calls() != 1 {
		t.Fatalf("token calls = %d", calls())
	}
	v.status.take()
	for _, step := range []struct {
		advance time.Duration
		want    int64 // token calls so far
	}{
		{0, 1},                // right after the mark
		{4 * time.Minute, 1},  // within ReauthBackoff (5m) of the mark
		{2 * time.Minute, 2},  // past it: one try, in vain
		{1 * time.Minute, 2},  // the backoff after that try is 2.5–5m
		{1 * time.Minute, 2},  //
		{4 * time.Minute, 3},  // past it
		{4 * time.Minute, 3},  // doubled: 5–10m
		{10 * time.Minute, 4}, // past it
	} {
		v.clock.Add(step.advance)
		v.pass(t)
		if calls() != step.want {
			t.Fatalf("after +%s: %d token calls, want %d", step.advance, calls(), step.want)
		}
	}
	if got := v.status.take(); len(got) != 0 {
		t.Fatalf("tries in vain reported status changes %+v", got)
	}
	// Spotify takes the token again: the next due try makes the account ok.
	v.sp.mu.Lock()
	v.sp.live["revoked-token"] = true
	v.sp.mu.Unlock()
	v.clock.Add(time.Hour)
	v.pass(t)
	if rec := v.get(t, "alice"); rec.Status != tokenstore.StatusOK {
		t.Fatalf("status %s after a working try", rec.Status)
	}
	wantChange(t, v.status.take(), "alice", tokenstore.StatusReauthRequired, tokenstore.StatusOK)
}

// Run validates on its own: the first pass within an interval (VALIDATE_EVERY/4),
// each refresh after its pace, all in fake time.
func TestValidationRunsInTheBackground(t *testing.T) {
	fake := testclock.NewFake(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	sp := newFakeSpotify(fake.Now, time.Hour)
	st, err := tokenstore.OpenFileStore(filepath.Join(t.TempDir(), "tokens.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	at := fake.Now().Add(-2 * validateEvery)
	if _, err := st.Put(context.Background(), tokenstore.Record{Account: "alice", RefreshToken: sp.issue(),
		Status: tokenstore.StatusOK, ObtainedAt: at, AuthorizedAt: at}, 0); err != nil {
		t.Fatal(err)
	}
	cfg := tokenstore.Config{Store: st, Refresher: sp, Now: fake.Now, ScanInterval: -1,
		ValidateEvery: validateEvery, ValidatePace: time.Second}
	tokenstore.WithValidationSleep(&cfg, func(ctx context.Context, d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-fake.After(d):
			return true
		}
	})
	src := tokenstore.NewSource(cfg)
	src.Run()
	defer src.Close()

	parked := func(what string) { // the validator waits on the fake clock
		t.Helper()
		done := make(chan struct{})
		go func() { fake.Waiters(1); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the validator never waited %s", what)
		}
	}
	parked("before the first pass")
	if sp.calls.Load() != 0 {
		t.Fatal("a token call before the first pass")
	}
	fake.Advance(validateEvery / 4) // the first pass starts and waits its pace
	parked("its pace")
	if sp.calls.Load() != 0 {
		t.Fatal("a token call before its pace")
	}
	fake.Advance(2 * time.Second) // the refresh; then the wait for the next pass
	parked("for the next pass")
	if got := sp.calls.Load(); got != 1 {
		t.Fatalf("token calls after the first pass = %d, want 1", got)
	}
	if rec, _ := st.Get(context.Background(), "alice"); rec.Cause != tokenstore.CauseValidate {
		t.Fatalf("record cause %v, want validate", rec.Cause)
	}
}
