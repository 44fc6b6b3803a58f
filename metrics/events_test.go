package metrics_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

// The event metrics are registered on the given registry with every label value at
// zero from the first scrape, and move with events.
func TestEventMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	got := gather(t, reg)
	for name, want := range map[string]struct {
		typ    dto.MetricType
		series int
	}{
		"spotify_proxy_events_total":                 {dto.MetricType_COUNTER, 5},
		"spotify_proxy_event_deliveries_total":       {dto.MetricType_COUNTER, 3},
		"spotify_proxy_event_oldest_pending_seconds": {dto.MetricType_GAUGE, 1},
	} {
		mf, ok := got[name]
		if !ok || mf.GetType() != want.typ || len(mf.GetMetric()) != want.series {
			t.Errorf("%s: registered %v, %v, %d series; want %v with %d", name, ok, mf.GetType(), len(mf.GetMetric()), want.typ, want.series)
		}
	}
	m.EventEmitted("account.linked")
	m.EventEmitted("made.up") // not a series
	m.WebhookDelivery(metrics.DeliveryRetried)
	m.SetOldestUndelivered(90 * time.Second)
	if v := testutil.ToFloat64(m.Events.WithLabelValues("account.linked")); v != 1 {
		t.Errorf("events linked %v", v)
	}
	if n := testutil.CollectAndCount(m.Events); n != 5 {
		t.Errorf("%d event series after an unknown type", n)
	}
	if v := testutil.ToFloat64(m.WebhookDeliveries.WithLabelValues("retried")); v != 1 {
		t.Errorf("retried %v", v)
	}
	if v := testutil.ToFloat64(m.EventsOldestUndelivered); v != 90 {
		t.Errorf("oldest %v", v)
	}
	var nilM *metrics.Metrics
	nilM.EventEmitted("account.linked")
	nilM.WebhookDelivery("delivered")
	nilM.SetOldestUndelivered(time.Second)
}
