package chartcheck

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestEnvMatchesProxyConfig: every variable the chart sets (ConfigMap keys and
// container env) is one that the proxy reads, as listed in config/config.go. It skips
// when that file is not there (the chart checked outside the repository).
func TestEnvMatchesProxyConfig(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot, "config", "config.go"))
	if err != nil {
		t.Skipf("proxy config not found: %v", err)
	}
	known := map[string]bool{"GOMEMLIMIT": true}
	for _, m := range regexp.MustCompile(`env:\s*"([A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		known[m[1]] = true
	}
	if len(known) < 10 {
		t.Skipf("config/config.go lists %d variables; the format changed", len(known))
	}
	// The standard OTEL_* variables the proxy's tracing reads (tracing/setup.go).
	if src, err := os.ReadFile(filepath.Join(repoRoot, "tracing", "setup.go")); err == nil {
		for _, m := range regexp.MustCompile(`getenv\("(OTEL_[A-Z0-9_]+)"\)`).FindAllStringSubmatch(string(src), -1) {
			known[m[1]] = true
		}
	}
	for _, file := range ciValuesFiles(t) {
		b := renderFile(t, file)
		for k := range b.proxyConfigMap(t).Data {
			if !known[k] {
				t.Errorf("%s: ConfigMap sets %s, which the proxy does not read", filepath.Base(file), k)
			}
		}
		var proxy []podTemplate
		for _, d := range b.deployments {
			proxy = append(proxy, podTemplate{"Deployment " + d.Name, d.Spec.Template.Spec, nil})
		}
		for _, p := range proxy {
			for _, e := range p.spec.Containers[0].Env {
				if !known[e.Name] && !isExtraEnv(b, e.Name) {
					t.Errorf("%s: %s sets %s, which the proxy does not read", filepath.Base(file), p.source, e.Name)
				}
			}
		}
	}
}

func isExtraEnv(b *bundle, name string) bool {
	extra, _ := b.value("extraEnv").([]any)
	for _, e := range extra {
		if m, ok := e.(map[string]any); ok && m["name"] == name {
			return true
		}
	}
	return false
}

// TestChartDefaultsMatchProxyDefaults: with default values, the ConfigMap sets each
// hardening setting to the proxy's own default (config/config.go), so installing with
// the chart changes nothing but ALLOWED_HOSTS (the Service's names) and the generated key.
func TestChartDefaultsMatchProxyDefaults(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot, "config", "config.go"))
	if err != nil {
		t.Skipf("proxy config not found: %v", err)
	}
	defaults := map[string]string{}
	for _, m := range regexp.MustCompile(`env:\s*"([A-Z0-9_]+)",\s*def:\s*"([^"]*)"`).FindAllStringSubmatch(string(src), -1) {
		defaults[m[1]] = m[2]
	}
	cm := renderBundle(t, minimalValues()).proxyConfigMap(t)
	for _, env := range []string{"BODY_READ_TIMEOUT", "MAX_REPLAY_MEMORY", "UPSTREAM_IDLE_TIMEOUT", "REWRITE_RESPONSE_URLS",
		"UNAUTHORIZED_REFRESH_INTERVAL", "TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT", "ADMIN_SESSION_TTL", "VALIDATE_RATE"} {
		def, ok := defaults[env]
		if !ok {
			t.Errorf("config/config.go has no default for %s", env)
			continue
		}
		if got, ok := cm.Data[env]; !ok || got != def {
			t.Errorf("ConfigMap %s = %q (set: %v), the proxy's default is %q", env, got, ok, def)
		}
	}
	for _, env := range []string{"PUBLIC_URL", "PUBLIC_ADMIN_URL", "VALIDATE_EVERY"} {
		if v, ok := cm.Data[env]; ok {
			t.Errorf("ConfigMap sets %s = %q by default; the proxy's default is empty", env, v)
		}
	}
}
