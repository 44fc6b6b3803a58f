package chartcheck

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func proxyEnv(t *testing.T, b *bundle) map[string]corev1.EnvVar {
	t.Helper()
	if len(b.deployments) == 0 {
		t.Fatal("no Deployment rendered")
	}
	out := map[string]corev1.EnvVar{}
	for _, e := range b.deployments[0].Spec.Template.Spec.Containers[0].Env {
		out[e.Name] = e
	}
	return out
}

// TestWebhookValues: the webhook's signing secret always comes from an existing
// Secret; the URL from the ConfigMap or from that Secret; the event settings carry
// the proxy's defaults.
func TestWebhookValues(t *testing.T) {
	b := renderBundle(t, minimalValues())
	cm := b.proxyConfigMap(t).Data
	if cm["WEBHOOK_RETRY_FOR"] != "24h" || cm["EXPIRY_WARNING"] != "336h" || cm["REFRESH_TOKEN_LIFETIME"] != "4380h" {
		t.Fatalf("event defaults in the ConfigMap: %v", cm)
	}
	if _, ok := cm["WEBHOOK_URL"]; ok {
		t.Fatal("WEBHOOK_URL set without a webhook")
	}
	if _, ok := proxyEnv(t, b)["WEBHOOK_SECRET"]; ok {
		t.Fatal("WEBHOOK_SECRET set without a webhook")
	}

	b = renderBundle(t, overlay(t, minimalValues(), "webhook: {url: 'https://app.example/hook', existingSecret: app-webhook}"))
	if got := b.proxyConfigMap(t).Data["WEBHOOK_URL"]; got != "https://app.example/hook" {
		t.Fatalf("WEBHOOK_URL = %q", got)
	}
	ref := proxyEnv(t, b)["WEBHOOK_SECRET"].ValueFrom
	if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "app-webhook" || ref.SecretKeyRef.Key != "webhook-secret" {
		t.Fatalf("WEBHOOK_SECRET from %+v", ref)
	}

	b = renderBundle(t, overlay(t, minimalValues(), "webhook: {urlKey: url, existingSecret: app-webhook, secretKey: sig}"))
	env := proxyEnv(t, b)
	if _, ok := b.proxyConfigMap(t).Data["WEBHOOK_URL"]; ok {
		t.Fatal("WEBHOOK_URL in the ConfigMap although it comes from the Secret")
	}
	u, s := env["WEBHOOK_URL"].ValueFrom, env["WEBHOOK_SECRET"].ValueFrom
	if u == nil || u.SecretKeyRef.Name != "app-webhook" || u.SecretKeyRef.Key != "url" || s == nil || s.SecretKeyRef.Key != "sig" {
		t.Fatalf("URL from %+v, secret from %+v", u, s)
	}
}

// TestValidationValues: background validation is off by default (no VALIDATE_EVERY,
// the proxy's default rate); config.validateEvery and config.validateRate reach the
// ConfigMap.
func TestValidationValues(t *testing.T) {
	cm := renderBundle(t, minimalValues()).proxyConfigMap(t).Data
	if _, ok := cm["VALIDATE_EVERY"]; ok || cm["VALIDATE_RATE"] != "1/s" {
		t.Fatalf("validation defaults in the ConfigMap: VALIDATE_EVERY %q, VALIDATE_RATE %q", cm["VALIDATE_EVERY"], cm["VALIDATE_RATE"])
	}
	cm = renderBundle(t, overlay(t, minimalValues(), "config: {validateEvery: 24h, validateRate: 30/m}")).proxyConfigMap(t).Data
	if cm["VALIDATE_EVERY"] != "24h" || cm["VALIDATE_RATE"] != "30/m" {
		t.Fatalf("VALIDATE_EVERY %q, VALIDATE_RATE %q", cm["VALIDATE_EVERY"], cm["VALIDATE_RATE"])
	}
}
