package tracing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// adminLike is a mux in front of a second mux, as the admin listener's API is.
func adminLike() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /admin/v1/accounts/{id}/token", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("token"))
	})
	api.HandleFunc("DELETE /admin/v1/accounts/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	mux := http.NewServeMux()
	mux.Handle("/admin/v1/", api)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /auth/login", func(w http.ResponseWriter, r *http.Request) {})
	return mux
}

func served(t *testing.T, accountIDs bool, reqs ...*http.Request) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	h := Handler(adminLike(), tp, Propagator(), HandlerOptions{
		AccountIDs: accountIDs,
		Skip:       func(r *http.Request) bool { return r.URL.Path == "/healthz" },
	})
	for _, r := range reqs {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	return rec.Ended()
}

func get(sp sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range sp.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

func TestHandlerSpans(t *testing.T) {
	tokenReq := func() *http.Request {
		r := httptest.NewRequest("GET", "http://127.0.0.1:9090/admin/v1/accounts/alice@example.com/token?x=secret", nil)
		r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		r.Header.Set("Authorization", "Bearer admin-secret")
		return r
	}
	spans := served(t, false, tokenReq(),
		httptest.NewRequest("GET", "/healthz", nil),
		httptest.NewRequest("DELETE", "/admin/v1/accounts/bob", nil),
		httptest.NewRequest("GET", "/auth/login", nil))
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3 (the probe is skipped)", len(spans))
	}
	tok, del, login := spans[0], spans[1], spans[2]
	if tok.Name() != "GET /admin/v1/accounts/{id}/token" || tok.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q kind %v", tok.Name(), tok.SpanKind())
	}
	if tok.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Error("the caller's traceparent was not continued")
	}
	for k, want := range map[string]string{
		"http.route": "/admin/v1/accounts/{id}/token", "url.path": "/admin/v1/accounts/{id}/token",
		"http.request.method": "GET", "http.response.status_code": "200", "server.address": "127.0.0.1", "server.port": "9090",
	} {
		if got := get(tok, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, kv := range tok.Attributes() {
		if v := kv.Value.String(); containsAny(v, "alice", "secret") {
			t.Errorf("%s = %q: an account id, query or header was recorded", kv.Key, v)
		}
	}
	if del.Status().Code != codes.Error || get(del, "error.type") != "500" || get(del, "url.path") != "/admin/v1/accounts/{id}" {
		t.Errorf("a 500: status %v, attributes %v", del.Status(), del.Attributes())
	}
	if login.Name() != "GET /auth/login" || get(login, "url.path") != "/auth/login" || login.Status().Code != codes.Unset {
		t.Errorf("login span %q %v", login.Name(), login.Attributes())
	}

	spans = served(t, true, tokenReq())
	if got := get(spans[0], "url.path"); got != "/admin/v1/accounts/alice@example.com/token" {
		t.Errorf("with account ids: url.path %q", got)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestHandlerWithoutTracingIsTheMux(t *testing.T) {
	mux := http.NewServeMux()
	for _, tp := range []trace.TracerProvider{nil, noop.NewTracerProvider()} {
		if h := Handler(mux, tp, Propagator(), HandlerOptions{}); h != http.Handler(mux) {
			t.Errorf("%T: the mux was wrapped", tp)
		}
	}
}

type closeCounter struct {
	http.RoundTripper
	closed int
}

func (c *closeCounter) CloseIdleConnections() { c.closed++ }

func TestTransport(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Header.Get("traceparent")))
	}))
	defer up.Close()
	base := &closeCounter{RoundTripper: http.DefaultTransport}
	if Transport(base, noop.NewTracerProvider(), Propagator()) != http.RoundTripper(base) {
		t.Fatal("without tracing the transport was wrapped")
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	rt := Transport(base, tp, Propagator())
	resp, err := (&http.Client{Transport: rt}).Post(up.URL+"/api/token", "application/x-www-form-urlencoded", strings.NewReader("refresh_token=secret"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != "POST" || spans[0].SpanKind() != trace.SpanKindClient {
		t.Fatalf("spans %v", spans)
	}
	if want := "00-" + spans[0].SpanContext().TraceID().String() + "-" + spans[0].SpanContext().SpanID().String() + "-01"; string(b) != want {
		t.Errorf("upstream got traceparent %q, want %q", b, want)
	}
	rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	if base.closed != 1 {
		t.Error("CloseIdleConnections did not reach the base transport")
	}
}

// ChildTransport traces a request only within a sampled span: the client span is its
// child; a request made outside any span is sent as it is, recording nothing.
func TestChildTransport(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Header.Get("traceparent")))
	}))
	defer up.Close()
	base := &closeCounter{RoundTripper: http.DefaultTransport}
	if ChildTransport(base, noop.NewTracerProvider(), Propagator()) != http.RoundTripper(base) {
		t.Fatal("without tracing the transport was wrapped")
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	rt := ChildTransport(base, tp, Propagator())
	post := func(ctx context.Context) string {
		req, _ := http.NewRequestWithContext(ctx, "POST", up.URL+"/api/token", strings.NewReader("refresh_token=secret"))
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := post(context.Background()); got != "" || len(rec.Ended()) != 0 {
		t.Fatalf("outside a span: traceparent %q, %d spans; want neither", got, len(rec.Ended()))
	}
	ctx, parent := tp.Tracer("test").Start(context.Background(), "refresh")
	got := post(ctx)
	parent.End()
	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Name() != "POST" || spans[0].Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("spans %v, want the POST under the parent", spans)
	}
	if want := "00-" + spans[0].SpanContext().TraceID().String() + "-" + spans[0].SpanContext().SpanID().String() + "-01"; got != want {
		t.Errorf("upstream got traceparent %q, want %q", got, want)
	}
	rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	if base.closed != 1 {
		t.Error("CloseIdleConnections did not reach the base transport")
	}
}
