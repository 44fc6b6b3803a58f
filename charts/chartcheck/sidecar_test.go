package chartcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestSidecarInAppChart renders the documented parent-chart usage: an app chart that
// depends on spotify-token-proxy (sidecar.enabled) and puts the named template
// spotify-token-proxy.sidecarContainer into its own Deployment as a native sidecar.
func TestSidecarInAppChart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "playlist-service")
	if err := CopyDir(chartDir, filepath.Join(dir, "charts", "spotify-token-proxy")); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Chart.yaml", `apiVersion: v2
name: playlist-service
version: 1.0.0
dependencies:
  - name: spotify-token-proxy
    version: 0.1.0
`)
	write("values.yaml", `spotify-token-proxy:
  sidecar:
    enabled: true
    appPodLabels:
      app.kubernetes.io/name: playlist-service
  spotify:
    clientId: ci-client-id
    clientSecret: ci-client-secret
  adminToken:
    value: ci-admin-token-0123456789
  redis:
    bundled:
      enabled: true
  podMonitor:
    enabled: true
`)
	// The snippet from DEPLOY.md ("Run as a sidecar").
	write("templates/deployment.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-playlist-service
spec:
  replicas: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: playlist-service
  template:
    metadata:
      labels:
        app.kubernetes.io/name: playlist-service
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 30
      initContainers:
        - {{- include "spotify-token-proxy.sidecarContainer" (index .Subcharts "spotify-token-proxy") | nindent 10 }}
      containers:
        - name: app
          image: example/playlist-service:1.0.0
          env:
            - name: SPOTIFY_API_BASE_URL
              value: http://127.0.0.1:8080
          resources:
            requests: {cpu: 10m, memory: 32Mi}
            limits: {memory: 64Mi}
          securityContext:
            runAsNonRoot: true
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
            seccompProfile: {type: RuntimeDefault}
`)
	c, err := LoadChart(dir)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := ReadValuesFiles(filepath.Join(dir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Render(c, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	objs, err := decoder(t).DecodeAll(r)
	if err != nil {
		t.Fatalf("strict decoding:\n%v", err)
	}
	b := index(r, objs)
	var app corev1.PodSpec
	var appLabels map[string]string
	for _, d := range b.deployments {
		if strings.HasSuffix(d.Name, "-playlist-service") {
			app, appLabels = d.Spec.Template.Spec, d.Spec.Template.Labels
		}
	}
	if len(app.InitContainers) != 1 {
		t.Fatalf("the app has %d init containers, want the sidecar", len(app.InitContainers))
	}
	sc := app.InitContainers[0]
	if sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Fatalf("the sidecar needs restartPolicy: Always")
	}
	checkProxyContainer(t, "sidecar", sc)
	checkContainerSecurity(t, "sidecar", nil, sc)
	for _, p := range podTemplates(b) {
		for _, c := range allContainers(p.spec) {
			checkContainerSecurity(t, p.source+": container "+c.Name, p.spec.SecurityContext, c)
		}
	}
	// The references resolve to objects of the release.
	cmName := sc.EnvFrom[0].ConfigMapRef.Name
	found := false
	for _, cm := range b.configMaps {
		found = found || cm.Name == cmName
	}
	if !found {
		t.Errorf("the sidecar reads ConfigMap %s, which the release does not create", cmName)
	}
	for _, e := range sc.Env {
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
			if s := b.secret(ref.SecretKeyRef.Name); s == nil {
				t.Errorf("env %s refers to Secret %s, not one of the release's", e.Name, ref.SecretKeyRef.Name)
			} else if _, ok := s.Data[ref.SecretKeyRef.Key]; !ok {
				t.Errorf("env %s: key %s not in Secret %s", e.Name, ref.SecretKeyRef.Key, s.Name)
			}
		} else if ref == nil && stringsContain(credentialEnv, e.Name) {
			t.Errorf("env %s is a plain value", e.Name)
		}
	}
	if len(b.podMonitors) != 1 {
		t.Fatalf("want a PodMonitor for the sidecar")
	}
	pm := b.podMonitors[0]
	if !subset(pm.Spec.Selector.MatchLabels, appLabels) {
		t.Errorf("PodMonitor selects %v, not the app pods %v", pm.Spec.Selector.MatchLabels, appLabels)
	}
	if port := ptrStr(pm.Spec.PodMetricsEndpoints[0].Port); port != sc.Ports[0].Name {
		t.Errorf("PodMonitor scrapes port %s, the sidecar exposes %s", port, sc.Ports[0].Name)
	}
	if len(b.statefulSets) != 1 {
		t.Fatalf("the bundled Redis should render in sidecar mode")
	}
	// The bundled Redis requires the generated password, which the sidecar reads too, and
	// its NetworkPolicy admits the app's pods (where the proxy runs).
	redis := b.statefulSets[0]
	password := redis.Name + "-password"
	if s := b.secret(password); s == nil || len(s.Data["redis-password"]) < 32 {
		t.Errorf("want the generated Redis password in Secret %s", password)
	}
	for _, c := range []struct {
		where string
		c     corev1.Container
		env   string
	}{{"Redis", redis.Spec.Template.Spec.Containers[0], "REDIS_PASSWORD"}, {"Redis probes", redis.Spec.Template.Spec.Containers[0], "REDISCLI_AUTH"}, {"sidecar", sc, "REDIS_PASSWORD"}} {
		ok := false
		for _, e := range c.c.Env {
			ok = ok || (e.Name == c.env && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == password)
		}
		if !ok {
			t.Errorf("%s: %s does not come from Secret %s", c.where, c.env, password)
		}
	}
	redisPolicy := false
	for _, p := range b.netpols {
		if !subset(p.Spec.PodSelector.MatchLabels, redis.Spec.Template.Labels) {
			t.Errorf("sidecar mode rendered NetworkPolicy %s for other pods than Redis", p.Name)
			continue
		}
		redisPolicy = true
		for _, r := range p.Spec.Ingress {
			for _, peer := range r.From {
				if peer.PodSelector == nil || peer.NamespaceSelector != nil || !subset(peer.PodSelector.MatchLabels, appLabels) {
					t.Errorf("Redis NetworkPolicy admits %+v, want only the app's pods %v (they run the proxy)", peer, appLabels)
				}
			}
		}
	}
	if !redisPolicy {
		t.Errorf("no NetworkPolicy protects the bundled Redis in sidecar mode")
	}
}

func stringsContain(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
