package chartcheck

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func envMap(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

// TestTracingValues: tracing.* sets the OTEL_* variables (and TRACE_ACCOUNT_IDS) in
// the Deployment's and the sidecar's env, after extraEnv so the endpoint can name a
// variable defined there, and the NetworkPolicy lets the proxy reach the collector.
// Without an endpoint nothing is set.
func TestTracingValues(t *testing.T) {
	tracing := `
tracing:
  endpoint: http://$(HOST_IP):4317
  protocol: grpc
  sampler: parentbased_traceidratio
  samplerArg: "0.25"
  serviceName: music-proxy
  resourceAttributes:
    deployment.environment.name: prod
  accountIds: true
extraEnv:
  - name: HOST_IP
    valueFrom:
      fieldRef:
        fieldPath: status.hostIP
`
	want := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://$(HOST_IP):4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25",
		"OTEL_SERVICE_NAME":        "music-proxy",
		"OTEL_RESOURCE_ATTRIBUTES": "k8s.namespace.name=music,deployment.environment.name=prod",
		"TRACE_ACCOUNT_IDS":        "true",
	}
	check := func(where string, c corev1.Container) {
		t.Helper()
		env := envMap(c)
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s: %s = %q, want %q", where, k, env[k], v)
			}
		}
		hostIP, endpoint := -1, -1
		for i, e := range c.Env {
			switch e.Name {
			case "HOST_IP":
				hostIP = i
			case "OTEL_EXPORTER_OTLP_ENDPOINT":
				endpoint = i
			}
		}
		if hostIP < 0 || endpoint < hostIP {
			t.Errorf("%s: HOST_IP (extraEnv) at %d must come before OTEL_EXPORTER_OTLP_ENDPOINT at %d", where, hostIP, endpoint)
		}
	}
	b := renderBundle(t, overlay(t, minimalValues(), tracing))
	check("Deployment", b.proxyContainer(t))
	egress := false
	for _, np := range b.netpols {
		for _, rule := range np.Spec.Egress {
			for _, p := range rule.Ports {
				if p.Port != nil && p.Port.IntValue() == 4317 && len(rule.To) == 0 {
					egress = true
				}
			}
		}
	}
	if !egress {
		t.Error("the NetworkPolicy does not admit egress to the collector's port 4317")
	}

	sidecar := overlay(t, minimalValues(), tracing+`
sidecar:
  enabled: true
  appPodLabels:
    app.kubernetes.io/name: playlist-service
`)
	check("sidecar", sidecarFromNotes(t, renderBundle(t, sidecar)))

	// The port follows the endpoint and protocol.
	for endpoint, port := range map[string]int{"http://otel.monitoring:4318": 4318, "https://otel.example.com": 443, "http://otel": 4318} {
		b := renderBundle(t, overlay(t, minimalValues(), "tracing:\n  endpoint: "+endpoint+"\n"))
		found := false
		for _, np := range b.netpols {
			for _, rule := range np.Spec.Egress {
				for _, p := range rule.Ports {
					found = found || (p.Port != nil && p.Port.IntValue() == port)
				}
			}
		}
		if !found {
			t.Errorf("endpoint %s: no egress to port %d", endpoint, port)
		}
	}

	for _, c := range []corev1.Container{renderBundle(t, minimalValues()).proxyContainer(t)} {
		for _, e := range c.Env {
			if strings.HasPrefix(e.Name, "OTEL_") || e.Name == "TRACE_ACCOUNT_IDS" {
				t.Errorf("without tracing.endpoint the chart sets %s", e.Name)
			}
		}
	}
}
