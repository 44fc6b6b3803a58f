package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values of the event metrics, initialised to zero by New.
var (
	// EventTypes are the account event types (events.Types).
	EventTypes = []string{
		"account.linked", "account.reauth_required", "account.recovered",
		"account.refresh_token_expiring", "account.deleted",
	}
	// DeliveryResults are the outcomes of webhook attempts.
	DeliveryResults = []string{DeliveryDelivered, DeliveryRetried, DeliveryDropped}
)

// OpEvents is the store_errors_total op of the account event log (a Redis
// Stream or the event file).
const OpEvents = "events"

// Webhook delivery results.
const (
	// DeliveryDelivered: the webhook answered 2xx.
	DeliveryDelivered = "delivered"
	// DeliveryRetried: an attempt failed (non-2xx, timeout) and will be retried.
	DeliveryRetried = "retried"
	// DeliveryDropped: the event was given up after WEBHOOK_RETRY_FOR.
	DeliveryDropped = "dropped"
)

func (m *Metrics) newEventCollectors(reg prometheus.Registerer) {
	m.Events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "spotify_proxy_events_total", Help: "Account events emitted, by type.",
	}, []string{"type"})
	m.WebhookDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "spotify_proxy_event_deliveries_total", Help: "Webhook delivery attempts, by result (delivered, retried, dropped).",
	}, []string{"result"})
	m.EventsOldestUndelivered = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "spotify_proxy_event_oldest_pending_seconds", Help: "Age of the oldest event not yet delivered to the webhook (0: none).",
	})
	reg.MustRegister(m.Events, m.WebhookDeliveries, m.EventsOldestUndelivered)
	for _, t := range EventTypes {
		m.Events.WithLabelValues(t)
	}
	for _, r := range DeliveryResults {
		m.WebhookDeliveries.WithLabelValues(r)
	}
}

// EventEmitted counts an event of type typ. Types outside EventTypes are not
// counted (no series made up at run time).
func (m *Metrics) EventEmitted(typ string) {
	if m == nil {
		return
	}
	for _, t := range EventTypes {
		if t == typ {
			m.Events.WithLabelValues(typ).Inc()
			return
		}
	}
}

// WebhookDelivery counts a webhook attempt's result (one of DeliveryResults).
func (m *Metrics) WebhookDelivery(result string) {
	if m == nil {
		return
	}
	m.WebhookDeliveries.WithLabelValues(result).Inc()
}

// SetOldestUndelivered sets the age of the oldest undelivered event (0: none).
func (m *Metrics) SetOldestUndelivered(age time.Duration) {
	if m == nil {
		return
	}
	m.EventsOldestUndelivered.Set(max(age, 0).Seconds())
}
