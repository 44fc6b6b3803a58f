package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
)

func TestTraceColdWarmAndRetry(t *testing.T) {
	s := newTracedStack(t)

	// Cold: the caller's traceparent is continued; the token lookup refreshes.
	code, srv := s.get(t, "/v1/me", "traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	if code != 200 {
		t.Fatalf("cold request: %d", code)
	}
	if got := srv.SpanContext().TraceID().String(); got != callerTrace {
		t.Fatalf("server span trace %s, want the caller's %s", got, callerTrace)
	}
	if got := srv.Parent().SpanID().String(); got != "00f067aa0ba902b7" || !srv.Parent().IsRemote() {
		t.Errorf("server span parent %s (remote %v), want the caller's span", got, srv.Parent().IsRemote())
	}
	spans := s.sink.trace(srv.SpanContext().TraceID())
	if got, want := tree(spans), "GET(server)\n  token(internal)\n"+refreshTree("    ")+"  GET(client)\n"; got != want {
		t.Fatalf("cold span tree:\n%s\nwant:\n%s", got, want)
	}
	wantAttr(t, named(t, spans, proxy.SpanToken, trace.SpanKindInternal)[0], proxy.AttrTokenCache, "miss")
	wantAttr(t, srv, "http.request.method", "GET")
	wantAttr(t, srv, "url.path", "/v1/me")
	wantAttr(t, srv, "http.response.status_code", "200")
	wantAttr(t, srv, "server.address", "127.0.0.1")
	client := named(t, spans, "GET", trace.SpanKindClient)[0]
	wantAttr(t, client, "http.response.status_code", "200")
	// Spotify got the client span's context, in the caller's trace.
	s.mu.Lock()
	up := s.seen[len(s.seen)-1].Get("traceparent")
	s.mu.Unlock()
	if want := "00-" + callerTrace + "-" + client.SpanContext().SpanID().String() + "-01"; up != want {
		t.Errorf("Spotify got traceparent %q, want %q", up, want)
	}

	// Warm: answered from memory.
	code, srv = s.get(t, "/v1/me")
	if code != 200 {
		t.Fatalf("warm request: %d", code)
	}
	spans = s.sink.trace(srv.SpanContext().TraceID())
	if got, want := tree(spans), "GET(server)\n  token(internal)\n  GET(client)\n"; got != want {
		t.Fatalf("warm span tree:\n%s\nwant:\n%s", got, want)
	}
	if srv.SpanContext().TraceID().String() == callerTrace || srv.Parent().IsValid() {
		t.Error("a request without traceparent should start its own trace")
	}
	wantAttr(t, named(t, spans, proxy.SpanToken, trace.SpanKindInternal)[0], proxy.AttrTokenCache, "hit")

	// A 401: the retry span holds the replacement lookup and the second call.
	s.emu.RevokeAccessTokens()
	code, srv = s.get(t, "/v1/me")
	if code != 200 {
		t.Fatalf("retried request: %d", code)
	}
	spans = s.sink.trace(srv.SpanContext().TraceID())
	want := "GET(server)\n  token(internal)\n  GET(client)\n  retry after 401(internal)\n    token invalidate(internal)\n" +
		refreshTree("      ") + "    GET(client)\n"
	if got := tree(spans); got != want {
		t.Fatalf("retry span tree:\n%s\nwant:\n%s", got, want)
	}
	clients := named(t, spans, "GET", trace.SpanKindClient)
	wantAttr(t, clients[0], "http.response.status_code", "401")
	wantAttr(t, clients[1], "http.response.status_code", "200")
	retry := named(t, spans, proxy.SpanRetry, trace.SpanKindInternal)[0]
	wantAttr(t, retry, proxy.AttrRetryReason, "unauthorized")
	if v, ok := attr(retry, proxy.AttrErrorMessage); !ok || v.AsString() == "" {
		t.Errorf("retry span without Spotify's 401 message: %v", retry.Attributes())
	}
	wantAttr(t, named(t, spans, proxy.SpanInvalidate, trace.SpanKindInternal)[0], proxy.AttrTokenCache, "miss")
	wantAttr(t, named(t, spans, proxy.SpanToken, trace.SpanKindInternal)[0], proxy.AttrTokenCache, "hit")
	wantAttr(t, srv, "http.response.status_code", "200")
}

func TestTraceRecordsRetryAfterAndSpotifyErrors(t *testing.T) {
	s := newTracedStack(t)
	s.emu.RateLimit(1, "7")
	code, srv := s.get(t, "/v1/me")
	if code != 429 {
		t.Fatalf("status %d, want Spotify's 429", code)
	}
	wantAttr(t, srv, proxy.AttrRetryAfter, `["7"]`)
	wantAttr(t, srv, "http.response.status_code", "429")
	if v, ok := attr(srv, proxy.AttrErrorMessage); !ok || v.AsString() == "" {
		t.Errorf("no Spotify error message on the server span: %v", srv.Attributes())
	}
}

func TestTraceTokenFailure(t *testing.T) {
	s := newTracedStack(t)
	s.emu.RevokeRefreshTokens()
	code, srv := s.get(t, "/v1/me")
	if code != 401 {
		t.Fatalf("status %d, want 401 PROXY_REAUTH_REQUIRED", code)
	}
	tok := named(t, s.sink.trace(srv.SpanContext().TraceID()), proxy.SpanToken, trace.SpanKindInternal)[0]
	wantAttr(t, tok, "error.type", "reauth_required")
	if tok.Status().Code.String() != "Error" {
		t.Errorf("token span status %v, want Error", tok.Status())
	}
}

// allAttributes lists every attribute value of the recorded spans: span, event and
// link attributes, names, status descriptions and the resource.
func allAttributes(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	add := func(kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			out = append(out, string(kv.Key)+"="+kv.Value.String())
		}
	}
	for _, sp := range spans {
		out = append(out, sp.Name(), sp.Status().Description)
		add(sp.Attributes())
		add(sp.Resource().Attributes())
		for _, e := range sp.Events() {
			out = append(out, e.Name)
			add(e.Attributes)
		}
		for _, l := range sp.Links() {
			add(l.Attributes)
		}
	}
	return out
}

func TestTraceNeverRecordsTokensOrAccounts(t *testing.T) {
	for _, accountIDs := range []bool{false, true} {
		t.Run(fmt.Sprint("accountIDs=", accountIDs), func(t *testing.T) {
			s := newTracedStack(t, func(c *proxy.Config) {
				c.ProxyAuthToken = "proxy-secret-value"
				c.Tracing.AccountIDs = accountIDs
			})
			hdrs := []string{"Proxy-Authorization", "Bearer proxy-secret-value", "Authorization", "Bearer callers-own-secret", "X-Spotify-Account", "default"}
			for range 2 {
				if code, _ := s.get(t, "/v1/me", hdrs...); code != 200 {
					t.Fatalf("status %d", code)
				}
			}
			s.emu.RevokeAccessTokens()
			if code, _ := s.get(t, "/v1/me", hdrs...); code != 200 {
				t.Fatalf("status %d", code)
			}
			s.mu.Lock()
			secrets := []string{s.refresh, "proxy-secret-value", "callers-own-secret"}
			for tok := range s.tokens {
				secrets = append(secrets, tok)
			}
			s.mu.Unlock()
			if len(secrets) < 5 {
				t.Fatalf("Spotify saw too few tokens: %v", secrets)
			}
			attrs := allAttributes(s.sink.Ended())
			if len(attrs) < 30 {
				t.Fatalf("too few attributes recorded to judge: %v", attrs)
			}
			for _, a := range attrs {
				for _, sec := range secrets {
					if strings.Contains(a, sec) {
						t.Errorf("a span holds a secret: %q", a)
					}
				}
			}
			found := slices.Contains(attrs, string(proxy.AttrAccount)+"=default")
			if found != accountIDs {
				t.Errorf("account id recorded: %v, want %v", found, accountIDs)
			}
		})
	}
}

// The request duration carries the server span's trace id as an exemplar when the
// span is sampled, and none when it is not.
func TestTraceExemplarIsTheServerSpan(t *testing.T) {
	s := newTracedStack(t)
	const unsampled = "0af7651916cd43dd8448eb211c80319c"
	if code, _ := s.get(t, "/v1/me", "traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01"); code != 200 {
		t.Fatal(code)
	}
	if code := s.do(t, "/v1/me", "traceparent", "00-"+unsampled+"-00f067aa0ba902b7-00"); code != 200 {
		t.Fatal(code)
	}
	s.proxy.Close() // waits for the handlers, which observe after the answer is sent
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var exemplars []string
	for _, mf := range mfs {
		if mf.GetName() != "spotify_proxy_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, b := range m.GetHistogram().GetBucket() {
				if ex := b.GetExemplar(); ex != nil {
					for _, l := range ex.GetLabel() {
						exemplars = append(exemplars, l.GetName()+"="+l.GetValue())
					}
				}
			}
		}
	}
	if !slices.Equal(exemplars, []string{metrics.ExemplarLabel + "=" + callerTrace}) {
		t.Fatalf("exemplars %v, want only the sampled request's trace id %s", exemplars, callerTrace)
	}
}

// A request the sampler leaves out records no span at all (no orphaned token or
// client span starting a trace of its own), and Spotify gets the caller's
// traceparent as it came.
func TestTraceUnsampledRecordsNothing(t *testing.T) {
	s := newTracedStack(t)
	const unsampled = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00"
	for range 2 { // cold, then warm
		if code := s.do(t, "/v1/me", "traceparent", unsampled); code != 200 {
			t.Fatal(code)
		}
		s.mu.Lock()
		got := s.seen[len(s.seen)-1].Get("traceparent")
		s.mu.Unlock()
		if got != unsampled {
			t.Errorf("Spotify got traceparent %q, want the caller's %q", got, unsampled)
		}
	}
	s.proxy.Close() // waits for the handlers
	if spans := s.sink.Ended(); len(spans) != 0 {
		t.Fatalf("unsampled requests recorded spans:\n%s", tree(spans))
	}
}

// A 401 that passes through (a body too large to send twice) says why on the server
// span.
func TestTrace401NotRetried(t *testing.T) {
	s := newTracedStack(t, func(c *proxy.Config) { c.MaxReplayBody = 4 })
	if code, _ := s.get(t, "/v1/me"); code != 200 { // a token first
		t.Fatal(code)
	}
	s.emu.RevokeAccessTokens()
	req, _ := http.NewRequest("PUT", s.proxy.URL+"/v1/me/player/play", strings.NewReader(`{"uris":["spotify:track:4iV5W9uYEdYUVa79Axb7Rh"]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("status %d, want Spotify's 401 passed through", resp.StatusCode)
	}
	srv := s.sink.server(t)
	var reasons []string
	for _, e := range srv.Events() {
		for _, kv := range e.Attributes {
			if e.Name == "401 not retried" && kv.Key == proxy.AttrRetryReason {
				reasons = append(reasons, kv.Value.AsString())
			}
		}
	}
	if !slices.Equal(reasons, []string{"body_not_replayable"}) {
		t.Fatalf("events %v, want one \"401 not retried\" with reason body_not_replayable", srv.Events())
	}
	wantAttr(t, srv, "http.response.status_code", "401")
}
