package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestEventSettingsDefaults(t *testing.T) {
	c, err := Load(nil, env(base()), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.WebhookURL != nil || !c.WebhookSecret.IsZero() || c.WebhookRetryFor != 24*time.Hour ||
		c.ExpiryWarning != 14*24*time.Hour || c.RefreshTokenLifetime != 4380*time.Hour {
		t.Fatalf("event defaults: %+v", c)
	}
}

func TestEventSettings(t *testing.T) {
	e := base()
	e["WEBHOOK_URL"] = "https://app.example.com/hooks?k=query-token"
	e["WEBHOOK_SECRET"] = testWebhookSecret
	e["WEBHOOK_RETRY_FOR"] = "2h"
	e["EXPIRY_WARNING"] = "72h"
	e["REFRESH_TOKEN_LIFETIME"] = "0"
	c, err := Load(nil, env(e), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.WebhookURL.Host != "app.example.com" || c.WebhookSecret.IsZero() || c.WebhookRetryFor != 2*time.Hour ||
		c.ExpiryWarning != 72*time.Hour || c.RefreshTokenLifetime != 0 {
		t.Fatalf("%+v", c)
	}
	if s := c.WebhookSecret.String(); strings.Contains(s, "MfKQ") {
		t.Fatalf("the secret prints as %q", s)
	}
	// From a file.
	p := filepath.Join(t.TempDir(), "webhook-secret")
	os.WriteFile(p, []byte(testWebhookSecret+"\n"), 0o600)
	delete(e, "WEBHOOK_SECRET")
	e["WEBHOOK_SECRET_FILE"] = p
	if c, err := Load(nil, env(e), &bytes.Buffer{}); err != nil || c.WebhookSecret.IsZero() {
		t.Fatalf("secret file: %v", err)
	}
}

func TestEventSettingErrorsNameTheVariable(t *testing.T) {
	for _, c := range []struct {
		set  map[string]string
		name string
	}{
		{map[string]string{"WEBHOOK_URL": "ftp://x/y?token=leak-me"}, "WEBHOOK_URL"},
		{map[string]string{"WEBHOOK_URL": "https://u:leak-me@x/"}, "WEBHOOK_URL"},
		{map[string]string{"WEBHOOK_URL": "https://x/"}, "WEBHOOK_SECRET"},
		{map[string]string{"WEBHOOK_SECRET": testWebhookSecret}, "WEBHOOK_SECRET"},
		{map[string]string{"WEBHOOK_URL": "https://x/", "WEBHOOK_SECRET": "whsec_leak-me!!"}, "WEBHOOK_SECRET"},
		{map[string]string{"WEBHOOK_URL": "https://x/", "WEBHOOK_SECRET": testWebhookSecret, "WEBHOOK_SECRET_FILE": "/nonexistent"}, "WEBHOOK_SECRET_FILE"},
		{map[string]string{"WEBHOOK_URL": "https://x/", "WEBHOOK_SECRET_FILE": "/nonexistent/leak-me"}, "WEBHOOK_SECRET_FILE"},
		{map[string]string{"WEBHOOK_RETRY_FOR": "soon"}, "WEBHOOK_RETRY_FOR"},
		{map[string]string{"WEBHOOK_RETRY_FOR": "0"}, "WEBHOOK_RETRY_FOR"},
		{map[string]string{"EXPIRY_WARNING": "-1h"}, "EXPIRY_WARNING"},
		{map[string]string{"EXPIRY_WARNING": "0"}, "EXPIRY_WARNING"},
		{map[string]string{"REFRESH_TOKEN_LIFETIME": "six months"}, "REFRESH_TOKEN_LIFETIME"},
		{map[string]string{"EXPIRY_WARNING": "5000h"}, "EXPIRY_WARNING"},
	} {
		e := base()
		for k, v := range c.set {
			e[k] = v
		}
		_, err := Load(nil, env(e), &bytes.Buffer{})
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != c.name {
			t.Errorf("%v: error %v, want one naming %s", c.set, err, c.name)
			continue
		}
		if strings.Contains(err.Error(), "leak-me") && c.name != "WEBHOOK_SECRET_FILE" {
			t.Errorf("%v: error %q quotes a secret", c.set, err)
		}
	}
}
