package metrics

import (
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// Metrics implements tokenstore.Observer: the token store counts in its own types
// and this file maps them to label values, so renaming a label changes neither what
// replicas trust nor what is stored.
var _ tokenstore.Observer = (*Metrics)(nil)

// CauseLabel is the refresh-trigger label value of a token's cause.
func CauseLabel(c tokenstore.Cause) string {
	switch c {
	case tokenstore.CauseAhead:
		return TriggerAhead
	case tokenstore.CauseExpired:
		return TriggerExpired
	case tokenstore.CauseUnauthorized:
		return TriggerUnauthorized
	case tokenstore.CauseLogin:
		return TriggerLogin
	case tokenstore.CauseAdmin:
		return TriggerAdmin
	case tokenstore.CauseValidate:
		return TriggerValidate
	}
	return ""
}

func resultLabel(r tokenstore.RefreshResult) string {
	switch r {
	case tokenstore.ResultSuccess:
		return ResultSuccess
	case tokenstore.ResultInvalidGrant:
		return ResultInvalidGrant
	}
	return ResultError
}

func raceLabel(r tokenstore.Race) string {
	switch r {
	case tokenstore.RaceCoalesced:
		return RaceCoalesced
	case tokenstore.RacePeerRefreshed:
		return RacePeerRefreshed
	case tokenstore.RaceLockTimeout:
		return RaceLockTimeout
	case tokenstore.RaceStaleWriteRejected:
		return RaceStaleWriteRejected
	}
	return RaceInvalidGrantRecovered
}

func opLabel(op tokenstore.StoreOp) string {
	switch op {
	case tokenstore.OpRead:
		return OpRead
	case tokenstore.OpWrite:
		return OpWrite
	case tokenstore.OpDelete:
		return OpDelete
	case tokenstore.OpList:
		return OpList
	}
	return OpLock
}

// Refreshed implements tokenstore.Observer: a token-endpoint call, whose duration
// carries the refresh span's trace id as an exemplar when it is sampled.
func (m *Metrics) Refreshed(cause tokenstore.Cause, result tokenstore.RefreshResult, took time.Duration, traceID string) {
	m.RefreshTrace(CauseLabel(cause), resultLabel(result), took, traceID)
}

// Raced implements tokenstore.Observer: a resolved refresh race.
func (m *Metrics) Raced(outcome tokenstore.Race) { m.Race(raceLabel(outcome)) }

// StoreFailed implements tokenstore.Observer: a failed store operation.
func (m *Metrics) StoreFailed(op tokenstore.StoreOp) { m.StoreError(opLabel(op)) }

// AccountsCounted implements tokenstore.Observer: the account gauges.
func (m *Metrics) AccountsCounted(c tokenstore.AccountCounts) {
	m.SetAccounts(c.OK, c.ReauthRequired, c.OldestAuthorization)
	m.SetAccountsExpiring(c.Expiring)
}
