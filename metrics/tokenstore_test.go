package metrics

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// TestTokenStoreLabels: every tokenstore type maps to its own label value of the
// contract, so each series the store counts is one New initialised.
func TestTokenStoreLabels(t *testing.T) {
	causes := map[tokenstore.Cause]string{
		tokenstore.CauseAhead: TriggerAhead, tokenstore.CauseExpired: TriggerExpired,
		tokenstore.CauseUnauthorized: TriggerUnauthorized, tokenstore.CauseLogin: TriggerLogin,
		tokenstore.CauseAdmin: TriggerAdmin, tokenstore.CauseValidate: TriggerValidate,
	}
	for c, want := range causes {
		if got := CauseLabel(c); got != want || !slices.Contains(RefreshTriggers, got) {
			t.Errorf("cause %v: label %q, want %q", c, got, want)
		}
	}
	m := New(prometheus.NewRegistry())
	m.Refreshed(tokenstore.CauseUnauthorized, tokenstore.ResultInvalidGrant, time.Second, "")
	if got := testutil.ToFloat64(m.TokenRefreshes.WithLabelValues(TriggerUnauthorized, ResultInvalidGrant)); got != 1 {
		t.Fatalf("unauthorized/invalid_grant = %v", got)
	}
	races := map[tokenstore.Race]string{
		tokenstore.RaceCoalesced: RaceCoalesced, tokenstore.RacePeerRefreshed: RacePeerRefreshed,
		tokenstore.RaceLockTimeout: RaceLockTimeout, tokenstore.RaceStaleWriteRejected: RaceStaleWriteRejected,
		tokenstore.RaceInvalidGrantRecovered: RaceInvalidGrantRecovered,
	}
	for r, label := range races {
		m.Raced(r)
		if got := testutil.ToFloat64(m.RefreshRaces.WithLabelValues(label)); got != 1 {
			t.Errorf("race %v: %s = %v", r, label, got)
		}
	}
	ops := map[tokenstore.StoreOp]string{
		tokenstore.OpRead: OpRead, tokenstore.OpWrite: OpWrite, tokenstore.OpDelete: OpDelete,
		tokenstore.OpList: OpList, tokenstore.OpLock: OpLock,
	}
	for op, label := range ops {
		m.StoreFailed(op)
		if got := testutil.ToFloat64(m.StoreErrors.WithLabelValues(label)); got != 1 {
			t.Errorf("op %v: %s = %v", op, label, got)
		}
	}
	var nilM *Metrics // a nil *Metrics records nothing, as before
	nilM.Refreshed(tokenstore.CauseAhead, tokenstore.ResultSuccess, time.Second, "0af7651916cd43dd8448eb211c80319c")
	nilM.AccountsCounted(tokenstore.AccountCounts{OK: 1, ReauthRequired: 2, OldestAuthorization: time.Hour})
}

// TestAccountGaugesFromTokenStore: the token store's account counts reach every
// account gauge, the expiring accounts included.
func TestAccountGaugesFromTokenStore(t *testing.T) {
	m := New(prometheus.NewRegistry())
	m.AccountsCounted(tokenstore.AccountCounts{OK: 5, ReauthRequired: 2, Expiring: 3, OldestAuthorization: 48 * time.Hour})
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"ok", testutil.ToFloat64(m.Accounts.WithLabelValues("ok")), 5},
		{"reauth_required", testutil.ToFloat64(m.Accounts.WithLabelValues("reauth_required")), 2},
		{"expiring", testutil.ToFloat64(m.AccountsExpiring), 3},
		{"oldest authorisation", testutil.ToFloat64(m.RefreshTokenAge), 48 * 3600},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}
