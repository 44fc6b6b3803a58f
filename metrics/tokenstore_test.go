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
		tokenstore.CauseAdmin: TriggerAdmin,
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
	nilM.AccountsCounted(1, 2, time.Hour)
}
