package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

var okResponse = &http.Response{StatusCode: 200, Body: http.NoBody}

func benchRoundTrip(b *testing.B, rt http.RoundTripper) {
	req := httptest.NewRequest("GET", "http://upstream/v1/me", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rt.RoundTrip(req); err != nil {
			b.Fatal(err)
		}
	}
}

// The upstream instrumentation, against promhttp's three round-tripper wrappers that
// record the same series.
func BenchmarkInstrumentUpstream(b *testing.B) {
	inner := roundTripFunc(func(*http.Request) (*http.Response, error) { return okResponse, nil })
	b.Run("InstrumentUpstream", func(b *testing.B) {
		m := metrics.New(prometheus.NewRegistry())
		benchRoundTrip(b, m.InstrumentUpstream(inner))
	})
	b.Run("promhttp", func(b *testing.B) {
		m := metrics.New(prometheus.NewRegistry())
		benchRoundTrip(b, promhttp.InstrumentRoundTripperInFlight(m.UpstreamInFlight,
			promhttp.InstrumentRoundTripperCounter(m.UpstreamRequests,
				promhttp.InstrumentRoundTripperDuration(m.UpstreamDuration, inner))))
	})
}
