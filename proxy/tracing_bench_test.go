package proxy_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"runtime"
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

// allocsPerRequest is the mean number of allocations of one warm request through p.
// It is a mean over many requests, not testing.AllocsPerRun's truncated count,
// because under the race detector sync.Pool drops items at random: the pools then
// allocate now and then, the same on average for every configuration.
func allocsPerRequest(t *testing.T, p *proxy.Proxy, n int) float64 {
	req := httptest.NewRequest("GET", "/v1/me", nil)
	serve := func() {
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for range 100 {
		serve()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		serve()
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(n)
}

// With tracing off (no provider, or the no-op one), a request allocates what it did
// before tracing existed: not one allocation more.
func TestTracingOffCostsNoAllocation(t *testing.T) {
	const n = 4000
	none := allocsPerRequest(t, benchProxy(t, proxy.Tracing{}), n)
	off := allocsPerRequest(t, benchProxy(t, proxy.Tracing{Provider: noop.NewTracerProvider()}), n)
	on := allocsPerRequest(t, benchProxy(t, proxy.Tracing{Provider: sampledProvider(t)}), n)
	t.Logf("allocations per request: no tracing %.2f, no-op provider %.2f, sampled %.2f", none, off, on)
	if off-none >= 0.5 {
		t.Fatalf("the no-op provider costs %.2f allocations per request, without tracing %.2f", off, none)
	}
	if on-none < 10 {
		t.Fatalf("sampled requests allocate %.2f, without tracing %.2f: the spans are not recorded", on, none)
	}
}
