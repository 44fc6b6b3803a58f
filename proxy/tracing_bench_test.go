package proxy_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// benchProxy is BenchmarkProxy's proxy with the tracing given.
func benchProxy(tb testing.TB, tr proxy.Tracing) *proxy.Proxy {
	u, _ := url.Parse("http://upstream")
	p, err := proxy.New(proxy.Config{
		Upstream: u, Transport: staticRT{benchBody}, Metrics: metrics.New(prometheus.NewRegistry()),
		Tokens:  staticTokens{tokenstore.NewCredential("static-token", time.Now().Add(time.Hour), "")},
		Tracing: tr,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// sampledProvider samples every request and exports through the batch span
// processor (as in production) to an exporter that discards.
func sampledProvider(tb testing.TB) *sdktrace.TracerProvider {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	tb.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp
}

// BenchmarkProxyTracing is the warm request path (BenchmarkProxy) with tracing off
// (the no-op provider, what the proxy gets without an OTLP endpoint), on with the
// request not sampled (spans that record nothing), and with every request sampled.
func BenchmarkProxyTracing(b *testing.B) {
	b.Run("off", func(b *testing.B) {
		benchHandler(b, benchProxy(b, proxy.Tracing{Provider: noop.NewTracerProvider()}))
	})
	b.Run("unsampled", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()),
			sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		b.Cleanup(func() { tp.Shutdown(context.Background()) })
		benchHandler(b, benchProxy(b, proxy.Tracing{Provider: tp}))
	})
	b.Run("sampled", func(b *testing.B) {
		benchHandler(b, benchProxy(b, proxy.Tracing{Provider: sampledProvider(b)}))
	})
}

// With tracing off (no provider, or the no-op one), a request allocates exactly what
// it did before tracing existed.
func TestTracingOffCostsNoAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race (sync.Pool drops items at random); the normal build checks them")
	}
	allocs := func(p *proxy.Proxy) float64 {
		req := httptest.NewRequest("GET", "/v1/me", nil)
		return testing.AllocsPerRun(200, func() {
			w := httptest.NewRecorder()
			p.ServeHTTP(w, req)
			if w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
		})
	}
	none := allocs(benchProxy(t, proxy.Tracing{}))
	off := allocs(benchProxy(t, proxy.Tracing{Provider: noop.NewTracerProvider()}))
	on := allocs(benchProxy(t, proxy.Tracing{Provider: sampledProvider(t)}))
	t.Logf("allocations per request: no tracing %.0f, no-op provider %.0f, sampled %.0f", none, off, on)
	if off != none {
		t.Fatalf("the no-op provider costs %.0f allocations per request, want %.0f", off, none)
	}
	if on <= none {
		t.Fatalf("sampled requests allocate %.0f ≤ %.0f: the spans are not recorded", on, none)
	}
}
