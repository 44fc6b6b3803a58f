package config

import (
	"fmt"
	"net/url"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/events"
)

// parseEvents reads the account event settings: WEBHOOK_URL, WEBHOOK_SECRET(_FILE),
// WEBHOOK_RETRY_FOR, EXPIRY_WARNING and REFRESH_TOKEN_LIFETIME.
func parseEvents(c *Config, get func(string) string) error {
	if v := get("WEBHOOK_URL"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			// The URL may carry a token: it is not quoted.
			return &Error{"WEBHOOK_URL", "must be an absolute http(s) URL, e.g. https://app.example.com/hooks/spotify"}
		}
		if u.User != nil {
			return &Error{"WEBHOOK_URL", "must not hold user:password (deliveries are signed with WEBHOOK_SECRET)"}
		}
		c.WebhookURL = u
	}
	raw, err := secretValue(get, "WEBHOOK_SECRET", "WEBHOOK_SECRET_FILE")
	if err != nil {
		return err
	}
	name := "WEBHOOK_SECRET"
	if get("WEBHOOK_SECRET_FILE") != "" {
		name = "WEBHOOK_SECRET_FILE"
	}
	switch {
	case raw == "" && c.WebhookURL != nil:
		return &Error{"WEBHOOK_SECRET", "required with WEBHOOK_URL (or WEBHOOK_SECRET_FILE): whsec_ followed by base64, e.g. whsec_$(openssl rand -base64 32)"}
	case raw != "" && c.WebhookURL == nil:
		return &Error{name, "only means something with WEBHOOK_URL"}
	case raw != "":
		if c.WebhookSecret, err = events.ParseSecret(raw); err != nil {
			return &Error{name, err.Error()}
		}
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
		min  time.Duration
	}{
		{"WEBHOOK_RETRY_FOR", &c.WebhookRetryFor, time.Second},
		{"EXPIRY_WARNING", &c.ExpiryWarning, time.Second}, // no warning: REFRESH_TOKEN_LIFETIME=0
		{"REFRESH_TOKEN_LIFETIME", &c.RefreshTokenLifetime, 0},
	} {
		v := get(d.name)
		x, err := time.ParseDuration(v)
		if err != nil {
			return &Error{d.name, fmt.Sprintf("%q is not a duration (e.g. 24h, 336h)", v)}
		}
		if x < d.min {
			return &Error{d.name, fmt.Sprintf("%s is too small (minimum %s)", v, d.min)}
		}
		*d.dst = x
	}
	if c.RefreshTokenLifetime > 0 && c.ExpiryWarning >= c.RefreshTokenLifetime {
		return &Error{"EXPIRY_WARNING", "must be shorter than REFRESH_TOKEN_LIFETIME"}
	}
	return nil
}
