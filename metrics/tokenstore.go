package metrics

import (
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// Metrics implements tokenstore.Observer: the token store counts in its own types
// and this file maps them to label values, so renaming a label changes neither what
// replicas trust nor what is stored.
var _ tokenstore.Observer = (*Metrics)(nil)

// The token store's values and their label values.
var (
	causeLabels = map[tokenstore.Cause]string{
		tokenstore.CauseAhead: TriggerAhead, tokenstore.CauseExpired: TriggerExpired,
		tokenstore.CauseUnauthorized: TriggerUnauthorized, tokenstore.CauseLogin: TriggerLogin,
		tokenstore.CauseAdmin: TriggerAdmin, tokenstore.CauseValidate: TriggerValidate,
	}
	resultLabels = map[tokenstore.RefreshResult]string{
		tokenstore.ResultSuccess: ResultSuccess, tokenstore.ResultInvalidGrant: ResultInvalidGrant,
		tokenstore.ResultError: ResultError,
	}
	raceLabels = map[tokenstore.Race]string{
		tokenstore.RaceCoalesced: RaceCoalesced, tokenstore.RacePeerRefreshed: RacePeerRefreshed,
		tokenstore.RaceLockTimeout: RaceLockTimeout, tokenstore.RaceStaleWriteRejected: RaceStaleWriteRejected,
		tokenstore.RaceInvalidGrantRecovered: RaceInvalidGrantRecovered,
	}
	opLabels = map[tokenstore.StoreOp]string{
		tokenstore.OpRead: OpRead, tokenstore.OpWrite: OpWrite, tokenstore.OpDelete: OpDelete,
		tokenstore.OpList: OpList, tokenstore.OpLock: OpLock,
	}
)

// CauseLabel is the refresh-trigger label value of a token's cause ("" for none).
func CauseLabel(c tokenstore.Cause) string { return causeLabels[c] }

// Refreshed implements tokenstore.Observer: a token-endpoint call, whose duration
// carries the refresh span's trace id as an exemplar when it is sampled.
func (m *Metrics) Refreshed(cause tokenstore.Cause, result tokenstore.RefreshResult, took time.Duration, traceID string) {
	m.RefreshTrace(CauseLabel(cause), resultLabels[result], took, traceID)
}

// Raced implements tokenstore.Observer: a resolved refresh race.
func (m *Metrics) Raced(outcome tokenstore.Race) { m.Race(raceLabels[outcome]) }

// StoreFailed implements tokenstore.Observer: a failed store operation.
func (m *Metrics) StoreFailed(op tokenstore.StoreOp) { m.StoreError(opLabels[op]) }

// AccountsCounted implements tokenstore.Observer: the account gauges.
func (m *Metrics) AccountsCounted(c tokenstore.AccountCounts) {
	m.SetAccounts(c.OK, c.ReauthRequired, c.OldestAuthorization)
	m.SetAccountsExpiring(c.Expiring)
}
