// Package tracing sets up OpenTelemetry traces for the proxy and holds the small
// helpers its servers share.
//
// New builds the process's TracerProvider from the standard OTEL_* environment
// variables only: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT
// (no endpoint: tracing is off), OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or
// OTEL_EXPORTER_OTLP_PROTOCOL (grpc or http/protobuf, the default), OTEL_TRACES_SAMPLER
// and OTEL_TRACES_SAMPLER_ARG (default parentbased_always_on), OTEL_SERVICE_NAME
// (default spotify-token-proxy) and OTEL_RESOURCE_ATTRIBUTES; OTEL_TRACES_EXPORTER=none
// turns tracing off too. The OTLP exporters read their other standard variables
// (headers, timeout, compression, certificates) themselves, and the batch span
// processor its OTEL_BSP_* ones. A bad value is an error naming the variable.
//
// With tracing off, New returns a no-op provider, and Enabled reports false for it:
// the proxy then starts no span and wraps nothing, so its hot path is the same as
// without tracing (no allocation, measured by the proxy's benchmarks).
//
// Transport records the calls of an HTTP client as otelhttp client spans;
// ChildTransport does so only for calls made within a sampled span (the token
// endpoint's calls, which belong to a refresh's or a login's trace), sending the
// others untraced rather than as traces of their own. The token source's refresh
// spans are tokenstore's (tokenstore.Tracing, documented there).
//
// Nothing here is global: the provider and the propagator (W3C tracecontext and
// baggage, Propagator) are passed to whoever starts spans; otel.SetTracerProvider is
// never called.
//
// StartServer and EndServer record an incoming request as a server span with the
// HTTP semantic conventions (http.request.method, url.path, url.scheme,
// server.address, server.port, network.protocol.version, user_agent.original,
// client.address, http.response.status_code, error.type), continuing the caller's
// traceparent. Handler wraps a ServeMux (the admin listener) with them; it names the
// span after the matched route and, unless account ids may be recorded, puts the
// route template (/admin/v1/accounts/{id}) in url.path instead of the path. No
// header value, query string or body is ever recorded.
package tracing
