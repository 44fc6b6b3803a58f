package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
	"github.com/spotify-token-proxy/spotify-token-proxy/tracing"
)

// Tracing configures the proxy's spans. The zero value (or a no-op provider) records
// none, and the proxy then starts no span and wraps nothing: tracing costs nothing.
type Tracing struct {
	Provider trace.TracerProvider
	// Propagator reads the caller's trace context and writes Spotify's; nil means W3C
	// tracecontext and baggage.
	Propagator propagation.TextMapPropagator
	// AccountIDs records the account (X-Spotify-Account) as spotify_proxy.account.
	// Account ids can be personal data, so it is off by default.
	AccountIDs bool
}

// Attributes of the proxy's own (beyond the semantic conventions).
const (
	AttrAccount      = tracing.AttrAccount
	AttrTokenCache   = attribute.Key("spotify_proxy.token.cache") // hit or miss
	AttrRetryReason  = attribute.Key("spotify_proxy.retry.reason")
	AttrErrorReason  = tracing.AttrErrorReason                // the reason of Spotify's error body
	AttrErrorMessage = attribute.Key("spotify.error.message") // the message of Spotify's error body
	// AttrRetryAfter is Spotify's Retry-After, as the conventions name response headers.
	AttrRetryAfter = attribute.Key("http.response.header.retry-after")
)

// Span names.
const (
	SpanToken      = "token"
	SpanInvalidate = "token invalidate"
	SpanRetry      = "retry after 401"
)

// tracer starts the proxy's spans; a nil *tracer starts none.
type tracer struct {
	tp         trace.TracerProvider
	tr         trace.Tracer
	prop       propagation.TextMapPropagator
	accountIDs bool
}

func newTracer(t Tracing) *tracer {
	if !tracing.Enabled(t.Provider) {
		return nil
	}
	if t.Propagator == nil {
		t.Propagator = tracing.Propagator()
	}
	return &tracer{tp: t.Provider, tr: t.Provider.Tracer(tracing.ScopeName), prop: t.Propagator, accountIDs: t.AccountIDs}
}

// transport wraps the transport to Spotify so that each request of a sampled
// request sent (the first and a retry) is a client span, and Spotify gets its
// traceparent. Requests that are not sampled go straight to rt.
func (t *tracer) transport(rt http.RoundTripper) http.RoundTripper {
	if t == nil {
		return rt
	}
	return tracing.ChildTransport(rt, t.tp, t.prop)
}

// start begins the server span of a proxied request. A request the sampler leaves
// out records nothing more: its span is dropped at once, and the request goes on
// as without tracing (the caller's traceparent passes to Spotify unchanged).
func (t *tracer) start(r *http.Request, st *state) *http.Request {
	ctx, span := tracing.StartServer(t.tr, t.prop, r, r.Method)
	if !span.IsRecording() {
		span.End()
		return r
	}
	span.SetAttributes(semconv.URLPath(r.URL.Path))
	st.span = span
	return r.WithContext(ctx)
}

// end finishes the server span with the status sent and returns the trace id for the
// duration histogram's exemplar ("" when the request is not sampled).
func (t *tracer) end(st *state) string {
	if t == nil || st.span == nil {
		return ""
	}
	if t.accountIDs && st.account != "" {
		st.span.SetAttributes(AttrAccount.String(st.account))
	}
	tracing.EndServer(st.span, st.status)
	if sc := st.span.SpanContext(); sc.IsSampled() {
		return sc.TraceID().String()
	}
	return ""
}

// token asks the token source for st.account's token, as the span "token" when the
// request is sampled.
func (p *Proxy) token(ctx context.Context, st *state) (*tokenstore.Credential, error) {
	if p.tr == nil || st.span == nil {
		return p.cfg.Tokens.Token(ctx, st.account)
	}
	ctx, span := p.tr.tr.Start(ctx, SpanToken)
	probe := &waitProbe{Context: ctx}
	cred, err := p.cfg.Tokens.Token(probe, st.account)
	p.tr.endToken(span, probe, err)
	return cred, err
}

// invalidate reports Spotify's 401 to the token source, as the span "token
// invalidate" when the request is sampled.
func (p *Proxy) invalidate(ctx context.Context, st *state, rejected time.Time) (*tokenstore.Credential, error) {
	if p.tr == nil || st.span == nil {
		return p.cfg.Tokens.Invalidate(ctx, st.account, st.cred.AccessToken, rejected)
	}
	ctx, span := p.tr.tr.Start(ctx, SpanInvalidate)
	probe := &waitProbe{Context: ctx}
	cred, err := p.cfg.Tokens.Invalidate(probe, st.account, st.cred.AccessToken, rejected)
	p.tr.endToken(span, probe, err)
	return cred, err
}

func (t *tracer) endToken(span trace.Span, probe *waitProbe, err error) {
	cache := "hit"
	if probe.waited.Load() {
		cache = "miss"
	}
	span.SetAttributes(AttrTokenCache.String(cache))
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeKey.String(tokenErrorType(err)))
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// tokenErrorType names a token source failure without its text.
func tokenErrorType(err error) string {
	var ue *tokenstore.UnavailableError
	switch {
	case errors.Is(err, tokenstore.ErrReauthRequired):
		return "reauth_required"
	case errors.Is(err, tokenstore.ErrNoToken):
		return "no_token"
	case errors.Is(err, tokenstore.ErrRefreshTooSoon):
		return "refresh_too_soon"
	case errors.As(err, &ue):
		return "unavailable"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "_OTHER"
}

// waitProbe is the context a traced token lookup gets. The proxy cannot see the
// source's cache, but it sees whether the lookup had to wait: one answered from
// memory never looks at its context; one that reads the store, takes the lock or
// refreshes does (to give up when the caller does). Such a lookup is a miss.
type waitProbe struct {
	context.Context
	waited atomic.Bool
}

func (c *waitProbe) Done() <-chan struct{} { c.waited.Store(true); return c.Context.Done() }
func (c *waitProbe) Err() error            { c.waited.Store(true); return c.Context.Err() }
func (c *waitProbe) Deadline() (time.Time, bool) {
	c.waited.Store(true)
	return c.Context.Deadline()
}

// startRetry begins the span of a retry after Spotify's 401 (resp), recording what
// Spotify said. When the request is not sampled it returns ctx and a span that
// records nothing.
func (t *tracer) startRetry(ctx context.Context, st *state, resp *http.Response) (context.Context, trace.Span) {
	if t == nil || st.span == nil {
		return ctx, trace.SpanFromContext(context.Background())
	}
	attrs := append([]attribute.KeyValue{AttrRetryReason.String("unauthorized")}, spotifyError(resp)...)
	return t.tr.Start(ctx, SpanRetry, trace.WithAttributes(attrs...))
}

// retrySkipped records on the server span why a 401 passes through.
func (t *tracer) retrySkipped(st *state, reason string) {
	if t == nil || st == nil || st.span == nil {
		return
	}
	st.span.AddEvent("401 not retried", trace.WithAttributes(AttrRetryReason.String(reason)))
}

// response records Spotify's Retry-After and error reason on the server span.
func (t *tracer) response(resp *http.Response, st *state) {
	if t == nil || st == nil || st.span == nil {
		return
	}
	if v := resp.Header.Values("Retry-After"); len(v) > 0 {
		st.span.SetAttributes(AttrRetryAfter.StringSlice(v))
	}
	if resp.StatusCode >= 400 {
		st.span.SetAttributes(spotifyError(resp)...)
	}
}

// maxErrorPeek is how much of an error answer is read to find Spotify's reason.
const maxErrorPeek = 4 << 10

// spotifyError reads the start of an uncompressed JSON error answer and returns
// Spotify's reason and message, {"error":{"status":N,"message":"…","reason":"…"}}.
// The body is put back as it was.
func spotifyError(resp *http.Response) []attribute.KeyValue {
	if resp.Body == nil || resp.Body == http.NoBody || resp.Header.Get("Content-Encoding") != "" {
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil
	}
	body := resp.Body
	buf, err := io.ReadAll(io.LimitReader(body, maxErrorPeek))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), errReader{err}, body), body}
	if err != nil || len(buf) == maxErrorPeek {
		return nil
	}
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(buf, &e) != nil || len(e.Error) == 0 {
		return nil
	}
	var obj struct{ Message, Reason string }
	if json.Unmarshal(e.Error, &obj) != nil {
		return nil
	}
	var attrs []attribute.KeyValue
	if obj.Reason != "" {
		attrs = append(attrs, AttrErrorReason.String(clip(obj.Reason)))
	}
	if obj.Message != "" {
		attrs = append(attrs, AttrErrorMessage.String(clip(obj.Message)))
	}
	return attrs
}

// errReader replays a read error after the bytes read before it.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	return 0, io.EOF
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}
