package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Without a trace id an observation allocates nothing; with one, the bucket it
// falls in carries the exemplar.
func TestRequestExemplar(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	if n := testing.AllocsPerRun(100, func() { m.ObserveRequestTrace("GET", 200, time.Millisecond, "") }); n != 0 {
		t.Fatalf("an observation without a trace id allocates %v times", n)
	}
	m.ObserveRequestTrace("GET", 200, 30*time.Millisecond, "4bf92f3577b34da6a3ce929d0e0e4736")
	m.RefreshTrace(TriggerExpired, ResultSuccess, 200*time.Millisecond, "0af7651916cd43dd8448eb211c80319c")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, mf := range mfs {
		for _, mm := range mf.GetMetric() {
			for _, b := range mm.GetHistogram().GetBucket() {
				if ex := b.GetExemplar(); ex != nil {
					got[mf.GetName()] = ex.GetLabel()[0].GetName() + "=" + ex.GetLabel()[0].GetValue()
				}
			}
		}
	}
	want := map[string]string{
		"spotify_proxy_request_duration_seconds":       "trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
		"spotify_proxy_token_refresh_duration_seconds": "trace_id=0af7651916cd43dd8448eb211c80319c",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s exemplar %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("exemplars on %v, want only the duration histograms", got)
	}
}
