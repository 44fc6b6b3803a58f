package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
)

// parseValidation reads the background validation settings: VALIDATE_EVERY (empty
// or 0: off) and VALIDATE_RATE.
func parseValidation(c *Config, get func(string) string) error {
	if v := strings.TrimSpace(get("VALIDATE_EVERY")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return &Error{"VALIDATE_EVERY", fmt.Sprintf("%q is not a duration (e.g. 24h); empty: off", v)}
		}
		if d < 0 || (d > 0 && d < time.Second) {
			return &Error{"VALIDATE_EVERY", fmt.Sprintf("%s: want at least 1s (e.g. 24h), or empty for off", v)}
		}
		c.ValidateEvery = d
	}
	v := get("VALIDATE_RATE")
	l, err := ratelimit.ParseLimit(v)
	if err != nil {
		return &Error{"VALIDATE_RATE", err.Error()}
	}
	if l.IsZero() {
		return &Error{"VALIDATE_RATE", "must be calls/period, e.g. 1/s or 30/m"}
	}
	c.ValidateRate = l
	return nil
}

// ValidatePace is the least time between two validation refreshes: VALIDATE_RATE's
// period over its number of calls.
func (c *Config) ValidatePace() time.Duration {
	if c.ValidateRate.IsZero() {
		return 0
	}
	return c.ValidateRate.Per / time.Duration(c.ValidateRate.N)
}
