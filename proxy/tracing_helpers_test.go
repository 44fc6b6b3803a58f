package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/spantest"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyauth"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// spanSink records ended spans and tells when a server span ends: the caller has its
// answer before the proxy's handler returns and ends the span.
type spanSink struct {
	*tracetest.SpanRecorder
	servers chan sdktrace.ReadOnlySpan
}

func newSpanSink() *spanSink {
	return &spanSink{SpanRecorder: tracetest.NewSpanRecorder(), servers: make(chan sdktrace.ReadOnlySpan, 64)}
}

func (s *spanSink) OnEnd(sp sdktrace.ReadOnlySpan) {
	s.SpanRecorder.OnEnd(sp)
	if sp.SpanKind() == trace.SpanKindServer {
		s.servers <- sp
	}
}

// server waits for the next server span to end.
func (s *spanSink) server(t *testing.T) sdktrace.ReadOnlySpan {
	t.Helper()
	select {
	case sp := <-s.servers:
		return sp
	case <-time.After(10 * time.Second):
		t.Fatal("no server span ended")
		return nil
	}
}

// trace returns the ended spans of one trace, in the order they started.
func (s *spanSink) trace(id trace.TraceID) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, sp := range s.Ended() {
		if sp.SpanContext().TraceID() == id {
			out = append(out, sp)
		}
	}
	slices.SortFunc(out, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	return out
}

// tree renders spans as "name(kind)" lines indented under their parents, so a test
// compares the whole shape at once.
func tree(spans []sdktrace.ReadOnlySpan) string {
	return spantest.Tree(spans, func(sp sdktrace.ReadOnlySpan) string { return fmt.Sprintf("%s(%s)", sp.Name(), sp.SpanKind()) })
}

func attr(sp sdktrace.ReadOnlySpan, key attribute.Key) (attribute.Value, bool) {
	return spantest.Attr(sp, key)
}

func wantAttr(t *testing.T, sp sdktrace.ReadOnlySpan, key attribute.Key, want string) {
	t.Helper()
	v, ok := attr(sp, key)
	if !ok || v.String() != want {
		t.Errorf("span %q: %s = %q (present %v), want %q", sp.Name(), key, v.String(), ok, want)
	}
}

func named(t *testing.T, spans []sdktrace.ReadOnlySpan, name string, kind trace.SpanKind) []sdktrace.ReadOnlySpan {
	t.Helper()
	var out []sdktrace.ReadOnlySpan
	for _, sp := range spans {
		if sp.Name() == name && sp.SpanKind() == kind {
			out = append(out, sp)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s span %q in\n%s", kind, name, tree(spans))
	}
	return out
}

// tracedStack is the whole proxy in process (emulator ← spotifyauth ← Source ←
// proxy), traced into a span recorder. It remembers every Authorization header
// Spotify got, to look for them in the spans.
type tracedStack struct {
	emu     *spotifyemu.Emulator
	sink    *spanSink
	proxy   *httptest.Server
	reg     *prometheus.Registry
	refresh string

	mu     sync.Mutex
	tokens map[string]bool
	seen   []http.Header
}

func newTracedStack(t *testing.T, mutate ...func(*proxy.Config)) *tracedStack {
	t.Helper()
	s := &tracedStack{
		emu:    spotifyemu.New(spotifyemu.Options{ClientID: "cid", ClientSecret: "csecret", TokenLifetime: time.Hour}),
		sink:   newSpanSink(),
		reg:    prometheus.NewRegistry(),
		tokens: map[string]bool{},
	}
	es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if a := r.Header.Get("Authorization"); a != "" {
			s.tokens[a] = true
			s.tokens[strings.TrimPrefix(a, "Bearer ")] = true
		}
		s.seen = append(s.seen, r.Header.Clone())
		s.mu.Unlock()
		s.emu.ServeHTTP(w, r)
	}))
	t.Cleanup(es.Close)
	st, err := tokenstore.OpenFileStore(filepath.Join(t.TempDir(), "tokens.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(s.reg)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.sink))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	u, _ := url.Parse(es.URL)
	cfg := proxy.Config{
		Upstream: u, Metrics: m, Transport: proxy.NewTransport(10 * time.Second),
		Tracing: proxy.Tracing{Provider: tp},
	}
	for _, f := range mutate {
		f(&cfg)
	}
	src := tokenstore.NewSource(tokenstore.Config{
		Store: st, Refresher: spotifyauth.New(spotifyauth.Config{ClientID: "cid", ClientSecret: "csecret", AccountsURL: es.URL}),
		Metrics: m, ScanInterval: -1,
		Tracing: tokenstore.Tracing{Provider: tp, AccountIDs: cfg.Tracing.AccountIDs},
	})
	src.Run()
	t.Cleanup(func() { src.Close(); st.Close() })
	s.refresh = s.emu.IssueRefreshToken("user-read-private")
	if _, err := src.Seed(context.Background(), "default", s.refresh); err != nil {
		t.Fatal(err)
	}
	cfg.Tokens = src
	p, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.proxy = httptest.NewServer(p)
	t.Cleanup(s.proxy.Close)
	return s
}

// get sends GET path with the headers given (name, value, …) and returns the status
// and the server span.
func (s *tracedStack) get(t *testing.T, path string, headers ...string) (int, sdktrace.ReadOnlySpan) {
	t.Helper()
	code := s.do(t, path, headers...)
	return code, s.sink.server(t)
}

// do sends GET path with the headers given and returns the status.
func (s *tracedStack) do(t *testing.T, path string, headers ...string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.proxy.URL+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"

// refreshTree is the token source's refresh span and its steps, indented.
func refreshTree(indent string) string {
	var b strings.Builder
	for i, name := range []string{tokenstore.SpanRefresh, tokenstore.SpanRead, tokenstore.SpanLock, tokenstore.SpanReread,
		tokenstore.SpanEndpoint, tokenstore.SpanWrite} {
		if i > 0 {
			b.WriteString("  ")
		}
		b.WriteString(indent + name + "(internal)\n")
	}
	return b.String()
}
