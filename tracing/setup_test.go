package tracing

import (
	"context"
	"errors"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOffWithoutEndpoint(t *testing.T) {
	for _, e := range []map[string]string{
		{},
		{"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"},
	} {
		p, err := New(context.Background(), env(e), "test")
		if err != nil {
			t.Fatalf("%v: %v", e, err)
		}
		if p.Enabled() || Enabled(p) || p.Endpoint != "" {
			t.Fatalf("%v: tracing is on", e)
		}
		if _, ok := p.TracerProvider.(noop.TracerProvider); !ok {
			t.Fatalf("%v: provider %T, want the no-op one", e, p.TracerProvider)
		}
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEnabled(t *testing.T) {
	if Enabled(nil) || Enabled(noop.NewTracerProvider()) || Enabled(&noop.TracerProvider{}) || Enabled((*Provider)(nil)) {
		t.Fatal("a no-op provider counts as enabled")
	}
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	if !Enabled(tp) {
		t.Fatal("the SDK's provider counts as disabled")
	}
}

func TestEndpointAndProtocol(t *testing.T) {
	for _, tc := range []struct {
		env                map[string]string
		endpoint, protocol string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "http://127.0.0.1:4318/v1/traces", ProtocolHTTP},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/base/"}, "http://collector:4318/base/v1/traces", ProtocolHTTP},
		// The signal's own endpoint is used as it is, and wins.
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b/otlp/traces"}, "https://b/otlp/traces", ProtocolHTTP},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http://127.0.0.1:4317", ProtocolGRPC},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, "http://127.0.0.1:4317", ProtocolGRPC},
		// A password in the URL is not shown (the endpoint is logged at start-up).
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://user:hunter2@collector/v1/traces"}, "https://user:xxxxx@collector/v1/traces", ProtocolHTTP},
	} {
		p, err := New(context.Background(), env(tc.env), "test")
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if !p.Enabled() || p.Endpoint != tc.endpoint || p.Protocol != tc.protocol {
			t.Errorf("%v: enabled %v, %s %s; want %s %s", tc.env, p.Enabled(), p.Endpoint, p.Protocol, tc.endpoint, tc.protocol)
		}
		p.Shutdown(context.Background())
	}
}

func TestSampler(t *testing.T) {
	for _, tc := range []struct{ name, arg, want string }{
		{"", "", "ParentBased{root:AlwaysOnSampler"},
		{"always_off", "", "AlwaysOffSampler"},
		{"traceidratio", "0.25", "TraceIDRatioBased{0.25}"},
		{"parentbased_traceidratio", "0.1", "ParentBased{root:TraceIDRatioBased{0.1}"},
		{"parentbased_always_off", "", "ParentBased{root:AlwaysOffSampler"},
	} {
		p, err := New(context.Background(), env(map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": tc.name, "OTEL_TRACES_SAMPLER_ARG": tc.arg,
		}), "test")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.Sampler, tc.want) {
			t.Errorf("%s %s: sampler %s, want %s…", tc.name, tc.arg, p.Sampler, tc.want)
		}
		p.Shutdown(context.Background())
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	for _, tc := range []struct{ k, v string }{
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://user:hunter2@collector"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://collector"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
		{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp"},
		{"OTEL_TRACES_SAMPLER", "sometimes"},
		{"OTEL_TRACES_SAMPLER_ARG", "1.5"},
		{"OTEL_RESOURCE_ATTRIBUTES", "team"},
		{"OTEL_RESOURCE_ATTRIBUTES", "team=a%zz"},
		{"OTEL_TRACES_EXPORTER", "zipkin"},
	} {
		e := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", tc.k: tc.v}
		if tc.k == "OTEL_TRACES_SAMPLER_ARG" {
			e["OTEL_TRACES_SAMPLER"] = "traceidratio"
		}
		_, err := New(context.Background(), env(e), "test")
		var te *Error
		if !errors.As(err, &te) || te.Var != tc.k {
			t.Errorf("%s=%q: got %v, want an error naming %s", tc.k, tc.v, err, tc.k)
		}
		if err != nil && strings.Contains(tc.v, "hunter2") && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the URL's password: %v", tc.k, err)
		}
	}
}

func TestResource(t *testing.T) {
	res, err := newResource(env(map[string]string{
		"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs, deployment.environment.name=prod%20eu,team=music",
	}), "v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range res.Attributes() {
		got[string(kv.Key)] = kv.Value.String()
	}
	want := map[string]string{
		"service.name": "from-attrs", "service.version": "v1.2.3", "deployment.environment.name": "prod eu",
		"team": "music", "telemetry.sdk.language": "go",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OTEL_SERVICE_NAME": "svc", "OTEL_RESOURCE_ATTRIBUTES": "service.name=other"}, "svc"},
		{nil, DefaultServiceName},
	} {
		res, err := newResource(env(tc.env), "v")
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := res.Set().Value("service.name"); v.AsString() != tc.want {
			t.Errorf("%v: service.name %q, want %q", tc.env, v.AsString(), tc.want)
		}
	}
}
