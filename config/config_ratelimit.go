package config

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
)

// maxUpstreamRetries bounds UPSTREAM_RETRIES: more would only multiply an outage.
const maxUpstreamRetries = 10

// parseRateLimits reads RATE_LIMIT, RATE_LIMIT_PER_ACCOUNT, RATE_LIMIT_MAX_WAIT and
// UPSTREAM_RETRIES.
func parseRateLimits(get func(string) string, c *Config) error {
	var err error
	if c.RateLimit, err = ratelimit.ParseLimit(get("RATE_LIMIT")); err != nil {
		return &Error{"RATE_LIMIT", err.Error()}
	}
	if c.RateLimitPerAccount, err = ratelimit.ParseLimit(get("RATE_LIMIT_PER_ACCOUNT")); err != nil {
		return &Error{"RATE_LIMIT_PER_ACCOUNT", err.Error()}
	}
	if !c.RateLimit.IsZero() && !c.RateLimitPerAccount.IsZero() &&
		float64(c.RateLimitPerAccount.N)/c.RateLimitPerAccount.Per.Seconds() > float64(c.RateLimit.N)/c.RateLimit.Per.Seconds() {
		return &Error{"RATE_LIMIT_PER_ACCOUNT", fmt.Sprintf("%s allows more than RATE_LIMIT %s", c.RateLimitPerAccount, c.RateLimit)}
	}
	v := get("RATE_LIMIT_MAX_WAIT")
	if c.RateLimitMaxWait, err = time.ParseDuration(v); err != nil {
		return &Error{"RATE_LIMIT_MAX_WAIT", fmt.Sprintf("%q is not a duration (e.g. 0s, 5s)", v)}
	}
	if c.RateLimitMaxWait < 0 {
		return &Error{"RATE_LIMIT_MAX_WAIT", fmt.Sprintf("%s is negative", v)}
	}
	v = get("UPSTREAM_RETRIES")
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxUpstreamRetries {
		return &Error{"UPSTREAM_RETRIES", fmt.Sprintf("%q: want a whole number from 0 to %d", v, maxUpstreamRetries)}
	}
	c.UpstreamRetries = n
	return nil
}
