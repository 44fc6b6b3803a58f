package tracing

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// DefaultServiceName is service.name when OTEL_SERVICE_NAME does not say otherwise.
const DefaultServiceName = "spotify-token-proxy"

// Protocols of the OTLP exporter.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Provider is the process's tracing: the SDK's TracerProvider exporting over OTLP
// when an endpoint is set, a no-op one otherwise.
type Provider struct {
	trace.TracerProvider
	// Endpoint (without a password) and Protocol of the exporter; empty when tracing
	// is off.
	Endpoint, Protocol string
	// Sampler is the sampler's description, e.g. ParentBased{root:AlwaysOnSampler,…}.
	Sampler  string
	shutdown func(context.Context) error
}

// Enabled reports whether spans are recorded and exported.
func (p *Provider) Enabled() bool { return p != nil && p.shutdown != nil }

// Shutdown flushes the spans still buffered and stops the exporter. It is a no-op
// when tracing is off.
func (p *Provider) Shutdown(ctx context.Context) error {
	if !p.Enabled() {
		return nil
	}
	return p.shutdown(ctx)
}

// Enabled reports whether tp records spans at all: false for nil and for the no-op
// providers of the otel API, so callers can skip tracing entirely.
func Enabled(tp trace.TracerProvider) bool {
	switch v := tp.(type) {
	case nil, noop.TracerProvider, *noop.TracerProvider:
		return false
	case *Provider:
		return v.Enabled()
	}
	return true
}

// Propagator is the W3C tracecontext and baggage propagator.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Error is a bad OTEL_* value.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

// New builds the Provider from the OTEL_* variables read through getenv (see the
// package doc). version becomes service.version.
func New(ctx context.Context, getenv func(string) string, version string) (*Provider, error) {
	off := &Provider{TracerProvider: noop.NewTracerProvider()}
	switch e := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); e {
	case "", "otlp":
	case "none":
		return off, nil
	default:
		return nil, &Error{"OTEL_TRACES_EXPORTER", fmt.Sprintf("%q is not supported (otlp or none)", e)}
	}
	endpoint, endpointVar := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	signalURL := endpoint != ""
	if !signalURL {
		endpoint, endpointVar = getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "OTEL_EXPORTER_OTLP_ENDPOINT"
	}
	if endpoint == "" {
		return off, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The value is not quoted: a URL may hold credentials.
		return nil, &Error{endpointVar, "not an http:// or https:// URL with a host"}
	}
	protocol, protocolVar := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	if protocol == "" {
		protocol, protocolVar = getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "OTEL_EXPORTER_OTLP_PROTOCOL"
	}
	if protocol == "" {
		protocol = ProtocolHTTP
	}
	sampler, err := newSampler(getenv("OTEL_TRACES_SAMPLER"), getenv("OTEL_TRACES_SAMPLER_ARG"))
	if err != nil {
		return nil, err
	}
	res, err := newResource(getenv, version)
	if err != nil {
		return nil, err
	}
	var exp *otlptrace.Exporter
	switch protocol {
	case ProtocolHTTP:
		if !signalURL {
			// The signal path is appended to the generic endpoint, as the spec says.
			u = u.JoinPath("v1", "traces")
		}
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	case ProtocolGRPC:
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(u.String()))
	default:
		return nil, &Error{protocolVar, fmt.Sprintf("%q is not supported (grpc or http/protobuf)", protocol)}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: starting the OTLP exporter: %w", endpointVar, err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSampler(sampler), sdktrace.WithResource(res))
	return &Provider{
		TracerProvider: tp, Endpoint: u.Redacted(), Protocol: protocol, Sampler: sampler.Description(),
		shutdown: tp.Shutdown,
	}, nil
}

// newSampler is the sampler of OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
func newSampler(name, arg string) (sdktrace.Sampler, error) {
	ratio := func() (sdktrace.Sampler, error) {
		if arg == "" {
			return sdktrace.TraceIDRatioBased(1), nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, &Error{"OTEL_TRACES_SAMPLER_ARG", fmt.Sprintf("%q is not a ratio between 0 and 1", arg)}
		}
		return sdktrace.TraceIDRatioBased(r), nil
	}
	switch strings.TrimSpace(name) {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio":
		return ratio()
	case "parentbased_traceidratio":
		s, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(s), nil
	}
	return nil, &Error{"OTEL_TRACES_SAMPLER", fmt.Sprintf("%q is not supported (always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio)", name)}
}

// newResource is service.name (OTEL_SERVICE_NAME, else the one in
// OTEL_RESOURCE_ATTRIBUTES, else DefaultServiceName), service.version, the SDK's
// telemetry.sdk.* and OTEL_RESOURCE_ATTRIBUTES.
func newResource(getenv func(string) string, version string) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{semconv.ServiceName(DefaultServiceName), semconv.ServiceVersion(version)}
	if s := getenv("OTEL_RESOURCE_ATTRIBUTES"); strings.TrimSpace(s) != "" {
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				return nil, &Error{"OTEL_RESOURCE_ATTRIBUTES", fmt.Sprintf("%q is not key=value", strings.TrimSpace(kv))}
			}
			dv, err := url.PathUnescape(strings.TrimSpace(v))
			if err != nil {
				return nil, &Error{"OTEL_RESOURCE_ATTRIBUTES", fmt.Sprintf("the value of %q is not percent-encoded correctly", k)}
			}
			attrs = append(attrs, attribute.String(k, dv))
		}
	}
	if n := strings.TrimSpace(getenv("OTEL_SERVICE_NAME")); n != "" {
		attrs = append(attrs, semconv.ServiceName(n))
	}
	// Later attributes win over earlier ones with the same key.
	res, err := resource.New(context.Background(), resource.WithTelemetrySDK(), resource.WithAttributes(dedupe(attrs)...))
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	return res, nil
}

// dedupe keeps the last value of each key.
func dedupe(attrs []attribute.KeyValue) []attribute.KeyValue {
	last := make(map[attribute.Key]int, len(attrs))
	for i, a := range attrs {
		last[a.Key] = i
	}
	out := make([]attribute.KeyValue, 0, len(last))
	for i, a := range attrs {
		if last[a.Key] == i {
			out = append(out, a)
		}
	}
	return out
}
