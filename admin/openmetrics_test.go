package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// A scraper asking for OpenMetrics gets the duration histograms' exemplars, the
// trace ids of sampled requests and refreshes; the Prometheus text format has none.
func TestMetricsServeOpenMetricsExemplars(t *testing.T) {
	e := newEnv(t, envOption{})
	const reqTrace, refreshTrace = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
	e.m.ObserveRequestTrace("GET", 200, 30*time.Millisecond, reqTrace)
	e.m.RefreshTrace("expired", "success", 200*time.Millisecond, refreshTrace)

	scrape := func(accept string) (string, string) {
		hr := httptest.NewRequest("GET", "/metrics", nil)
		if accept != "" {
			hr.Header.Set("Accept", accept)
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, hr)
		wantStatus(t, w, http.StatusOK)
		return w.Header().Get("Content-Type"), w.Body.String()
	}
	ct, body := scrape("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	if !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("Content-Type %q, want OpenMetrics", ct)
	}
	for _, want := range []string{
		`spotify_proxy_request_duration_seconds_bucket{method="GET",le="0.05"} 1 # {trace_id="` + reqTrace + `"} 0.03`,
		`spotify_proxy_token_refresh_duration_seconds_bucket{le="0.25"} 1 # {trace_id="` + refreshTrace + `"} 0.2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("OpenMetrics scrape lacks\n%s\nin\n%s", want, grepLines(body, "_bucket"))
		}
	}
	ct, body = scrape("")
	if !strings.HasPrefix(ct, "text/plain") || strings.Contains(body, "trace_id") {
		t.Errorf("a plain scrape (%q) should be the text format without exemplars", ct)
	}
}

// A refresh recorded as a sampled span puts the span's trace id on the refresh
// duration: an OpenMetrics scrape shows it as the bucket's exemplar.
func TestMetricsServeTheRefreshSpansTraceAsExemplar(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	e := newEnv(t, envOption{source: func(c *tokenstore.Config) { c.Tracing = tokenstore.Tracing{Provider: tp} }})
	ctx := context.Background()
	if _, err := e.src.Seed(ctx, "alice", "RT-alice"); err != nil {
		t.Fatal(err)
	}
	rctx, request := tp.Tracer("test").Start(ctx, "request")
	if _, err := e.src.Token(rctx, "alice"); err != nil {
		t.Fatal(err)
	}
	request.End()
	traceID := request.SpanContext().TraceID().String()
	var refreshed bool
	for _, sp := range spans.Ended() {
		refreshed = refreshed || sp.Name() == tokenstore.SpanRefresh && sp.SpanContext().TraceID().String() == traceID
	}
	if !refreshed {
		t.Fatal("no refresh span recorded in the request's trace")
	}
	hr := httptest.NewRequest("GET", "/metrics", nil)
	hr.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, hr)
	wantStatus(t, w, http.StatusOK)
	buckets := grepLines(w.Body.String(), "spotify_proxy_token_refresh_duration_seconds_bucket")
	if !strings.Contains(buckets, `} 1 # {trace_id="`+traceID+`"} `) {
		t.Fatalf("no bucket of the refresh duration carries the refresh span's trace %s:\n%s", traceID, buckets)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
