package tracing

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Transport records each request sent through rt as a client span (otelhttp, named
// after the method) and sends the trace context with it; CloseIdleConnections
// reaches rt. With a tracer provider that records nothing it returns rt.
func Transport(rt http.RoundTripper, tp trace.TracerProvider, prop propagation.TextMapPropagator) http.RoundTripper {
	if !Enabled(tp) {
		return rt
	}
	return tracedTransport{otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method })), rt}
}

// ChildTransport is Transport for requests made within a sampled span only: the
// client span is a child of it. A request whose context holds no recording span
// goes straight to rt, untraced, rather than starting a trace of its own.
func ChildTransport(rt http.RoundTripper, tp trace.TracerProvider, prop propagation.TextMapPropagator) http.RoundTripper {
	if !Enabled(tp) {
		return rt
	}
	return sampledOnly{traced: Transport(rt, tp, prop), base: rt}
}

// sampledOnly sends a request through traced when its context holds a recording
// span, else through base.
type sampledOnly struct{ traced, base http.RoundTripper }

func (s sampledOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if trace.SpanFromContext(r.Context()).IsRecording() {
		return s.traced.RoundTrip(r)
	}
	return s.base.RoundTrip(r)
}

func (s sampledOnly) CloseIdleConnections() {
	if c, ok := s.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// tracedTransport keeps CloseIdleConnections, which otelhttp's transport does not
// pass on.
type tracedTransport struct {
	*otelhttp.Transport
	base http.RoundTripper
}

func (t tracedTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// ScopeName is the instrumentation scope of the project's spans.
const ScopeName = "github.com/spotify-token-proxy/spotify-token-proxy"

// Attributes the proxy's and the token store's spans share.
const (
	// AttrAccount is the account (X-Spotify-Account), recorded only when
	// TRACE_ACCOUNT_IDS is true: account ids can be personal data.
	AttrAccount = attribute.Key("spotify_proxy.account")
	// AttrErrorReason is the reason or OAuth error code of an answer from Spotify
	// (QUOTA_EXCEEDED, invalid_grant, …).
	AttrErrorReason = attribute.Key("spotify.error.reason")
)

// methods are the request methods the semantic conventions know; others are
// recorded as _OTHER with http.request.method_original.
var methods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true,
	"OPTIONS": true, "CONNECT": true, "TRACE": true,
}

// StartServer starts the server span of r, continuing the trace context that prop
// extracts from its headers. name is the span name (the method, and the route when
// there is one). The returned context carries the span. url.path is left to the
// caller (AttrPath), since a path may hold an account id.
func StartServer(tr trace.Tracer, prop propagation.TextMapPropagator, r *http.Request, name string) (context.Context, trace.Span) {
	ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	attrs := make([]attribute.KeyValue, 0, 9)
	if methods[r.Method] {
		attrs = append(attrs, semconv.HTTPRequestMethodKey.String(r.Method))
	} else {
		attrs = append(attrs, semconv.HTTPRequestMethodKey.String("_OTHER"), semconv.HTTPRequestMethodOriginal(r.Method))
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	attrs = append(attrs, semconv.URLScheme(scheme))
	if host, port := splitHostPort(r.Host); host != "" {
		attrs = append(attrs, semconv.ServerAddress(host))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if r.ProtoMajor > 0 {
		v := strconv.Itoa(r.ProtoMajor)
		if r.ProtoMajor == 1 {
			v += "." + strconv.Itoa(r.ProtoMinor)
		}
		attrs = append(attrs, semconv.NetworkProtocolVersion(v))
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	if host, _ := splitHostPort(r.RemoteAddr); host != "" {
		attrs = append(attrs, semconv.ClientAddress(host))
	}
	return tr.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
}

// EndServer records the status sent (0: none, the caller went away) and ends span.
// A 5xx is an error (error.type is the status code); a 4xx is the caller's, and
// leaves the span's status unset, as the conventions say for server spans.
func EndServer(span trace.Span, status int) {
	if status > 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	if status >= 500 {
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// splitHostPort splits host[:port], [v6]:port and v6 addresses; port is -1 when
// absent.
func splitHostPort(hp string) (string, int) {
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		return strings.Trim(hp, "[]"), -1
	}
	p, err := strconv.Atoi(ps)
	if err != nil {
		return host, -1
	}
	return host, p
}

// HandlerOptions configures Handler.
type HandlerOptions struct {
	// Skip tells which requests get no span (probes and scrapes).
	Skip func(*http.Request) bool
	// AccountIDs records url.path as sent; otherwise a path whose route has
	// wildcards is recorded as the route template.
	AccountIDs bool
}

// Handler records each request to mux (a ServeMux, or a handler that passes the
// request to one) as a server span named "METHOD route" after the matched pattern.
// With a tracer provider that records nothing (Enabled), it returns mux.
func Handler(mux http.Handler, tp trace.TracerProvider, prop propagation.TextMapPropagator, opts HandlerOptions) http.Handler {
	if !Enabled(tp) {
		return mux
	}
	tr := tp.Tracer(ScopeName)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opts.Skip != nil && opts.Skip(r) {
			mux.ServeHTTP(w, r)
			return
		}
		ctx, span := StartServer(tr, prop, r, r.Method)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(ctx)
		defer func() {
			// The mux records the matched pattern on the request it is given.
			if route := route(r.Pattern); route != "" {
				span.SetName(r.Method + " " + route)
				span.SetAttributes(semconv.HTTPRoute(route))
				if !opts.AccountIDs && strings.Contains(route, "{") {
					span.SetAttributes(semconv.URLPath(route))
				} else {
					span.SetAttributes(semconv.URLPath(r.URL.Path))
				}
			} else if opts.AccountIDs {
				span.SetAttributes(semconv.URLPath(r.URL.Path))
			}
			status := sw.status
			if status == 0 && r.Context().Err() == nil {
				status = http.StatusOK
			}
			EndServer(span, status)
		}()
		mux.ServeHTTP(sw, r)
	})
}

// route is the path of a ServeMux pattern ("GET /admin/v1/accounts/{id}" →
// "/admin/v1/accounts/{id}"), without a host.
func route(pattern string) string {
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pattern = p
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:]
	}
	return pattern
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
