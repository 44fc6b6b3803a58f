package events

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Type is an event type.
type Type string

// Event types.
const (
	AccountLinked               Type = "account.linked"
	AccountReauthRequired       Type = "account.reauth_required"
	AccountRecovered            Type = "account.recovered"
	AccountRefreshTokenExpiring Type = "account.refresh_token_expiring"
	AccountDeleted              Type = "account.deleted"
)

// Types lists every event type (metrics initialise a series for each).
var Types = []Type{AccountLinked, AccountReauthRequired, AccountRecovered, AccountRefreshTokenExpiring, AccountDeleted}

// Account statuses carried by events: the token store's "ok" and
// "reauth_required", and "deleted" for account.deleted.
const (
	StatusOK             = "ok"
	StatusReauthRequired = "reauth_required"
	StatusDeleted        = "deleted"
)

// Event is one account event. It holds no token by construction: only ids, times
// and the status.
type Event struct {
	// ID orders events: "<unix milliseconds>-<sequence>" (a Redis Stream id).
	ID      string
	Type    Type
	Account string
	Time    time.Time
	Status  string
	// AuthorizedAt is when the user authorised the app (zero: unknown).
	AuthorizedAt time.Time
	// ExpiresAt is when the refresh token's lifetime ends, AuthorizedAt +
	// REFRESH_TOKEN_LIFETIME (zero: unknown, or no lifetime).
	ExpiresAt time.Time
}

// wireEvent is the JSON payload (webhook body and polling API).
type wireEvent struct {
	ID           string  `json:"id,omitempty"`
	Type         Type    `json:"type"`
	Account      string  `json:"account"`
	Time         string  `json:"time"`
	Status       string  `json:"status"`
	AuthorizedAt *string `json:"authorized_at"`
	ExpiresAt    *string `json:"expires_at"`
}

func timeOrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

func (e Event) wire() wireEvent {
	return wireEvent{
		ID: e.ID, Type: e.Type, Account: e.Account, Time: e.Time.UTC().Format(time.RFC3339Nano),
		Status: e.Status, AuthorizedAt: timeOrNil(e.AuthorizedAt), ExpiresAt: timeOrNil(e.ExpiresAt),
	}
}

// MarshalJSON writes the payload:
//
//	{"id":"1764547200000-0","type":"account.linked","account":"alice",
//	 "time":"2026-12-01T00:00:00Z","status":"ok",
//	 "authorized_at":"2026-12-01T00:00:00Z","expires_at":"2027-06-01T12:00:00Z"}
//
// authorized_at and expires_at are null when unknown.
func (e Event) MarshalJSON() ([]byte, error) { return json.Marshal(e.wire()) }

// UnmarshalJSON reads a payload written by MarshalJSON.
func (e *Event) UnmarshalJSON(b []byte) error {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return fmt.Errorf("event time: %w", err)
	}
	*e = Event{ID: w.ID, Type: w.Type, Account: w.Account, Time: t, Status: w.Status}
	for _, f := range []struct {
		s   *string
		dst *time.Time
	}{{w.AuthorizedAt, &e.AuthorizedAt}, {w.ExpiresAt, &e.ExpiresAt}} {
		if f.s == nil {
			continue
		}
		if *f.dst, err = time.Parse(time.RFC3339Nano, *f.s); err != nil {
			return fmt.Errorf("event time: %w", err)
		}
	}
	return nil
}

// eventID is a parsed "<ms>-<seq>" id.
type eventID struct{ ms, seq uint64 }

// parseID reads an event id; "" is the id before every event.
func parseID(s string) (eventID, bool) {
	if s == "" {
		return eventID{}, true
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return eventID{}, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return eventID{ms, seq}, err1 == nil && err2 == nil
}

func (i eventID) String() string {
	return strconv.FormatUint(i.ms, 10) + "-" + strconv.FormatUint(i.seq, 10)
}

func (i eventID) less(j eventID) bool { return i.ms < j.ms || (i.ms == j.ms && i.seq < j.seq) }

// idTime is the time encoded in an id (the emitting store's clock).
func idTime(s string) time.Time {
	id, ok := parseID(s)
	if !ok || s == "" {
		return time.Time{}
	}
	return time.UnixMilli(int64(id.ms))
}

// DeliveryState is where an event stands with the webhook.
type DeliveryState string

// Delivery states.
const (
	// StatePending: not yet answered with a 2xx; being retried.
	StatePending DeliveryState = "pending"
	// StateDelivered: the webhook answered 2xx.
	StateDelivered DeliveryState = "delivered"
	// StateDropped: retried for WEBHOOK_RETRY_FOR without success, then given up.
	StateDropped DeliveryState = "dropped"
	// StateNone: no webhook is configured; the event is only kept for polling.
	StateNone DeliveryState = "none"
)

// Entry is an event with its delivery state (for an operator's view).
type Entry struct {
	Event
	State DeliveryState
}
