package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
)

func TestRateLimitDefaultsAreOff(t *testing.T) {
	c, err := Load(nil, env(base()), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.RateLimit.IsZero() || !c.RateLimitPerAccount.IsZero() || c.RateLimitMaxWait != 0 || c.UpstreamRetries != 2 {
		t.Fatalf("rate-limit defaults: %+v %+v %v %d", c.RateLimit, c.RateLimitPerAccount, c.RateLimitMaxWait, c.UpstreamRetries)
	}
}

func TestRateLimitSettingsParse(t *testing.T) {
	e := base()
	e["RATE_LIMIT"] = "150/30s"
	e["RATE_LIMIT_PER_ACCOUNT"] = " 50 / 30s "
	e["RATE_LIMIT_MAX_WAIT"] = "5s"
	c, err := Load([]string{"--upstream-retries", "0"}, env(e), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLimit != (ratelimit.Limit{N: 150, Per: 30 * time.Second}) || c.RateLimitPerAccount != (ratelimit.Limit{N: 50, Per: 30 * time.Second}) ||
		c.RateLimitMaxWait != 5*time.Second || c.UpstreamRetries != 0 {
		t.Fatalf("parsed: %+v %+v %v %d", c.RateLimit, c.RateLimitPerAccount, c.RateLimitMaxWait, c.UpstreamRetries)
	}
}

func TestRateLimitBadValuesNameTheVariable(t *testing.T) {
	for _, tc := range []struct{ k, v string }{
		{"RATE_LIMIT", "150"},
		{"RATE_LIMIT", "0/30s"},
		{"RATE_LIMIT", "-3/30s"},
		{"RATE_LIMIT", "150/soon"},
		{"RATE_LIMIT", "150/0s"},
		{"RATE_LIMIT_PER_ACCOUNT", "x/1s"},
		{"RATE_LIMIT_MAX_WAIT", "5"},
		{"RATE_LIMIT_MAX_WAIT", "-1s"},
		{"UPSTREAM_RETRIES", "two"},
		{"UPSTREAM_RETRIES", "-1"},
		{"UPSTREAM_RETRIES", "11"},
	} {
		e := base()
		e[tc.k] = tc.v
		_, err := Load(nil, env(e), &bytes.Buffer{})
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != tc.k {
			t.Errorf("%s=%q: error %v, want one naming %s", tc.k, tc.v, err, tc.k)
		}
	}
	e := base()
	e["RATE_LIMIT"], e["RATE_LIMIT_PER_ACCOUNT"] = "100/30s", "10/1s"
	_, err := Load(nil, env(e), &bytes.Buffer{})
	var ce *Error
	if !errors.As(err, &ce) || ce.Var != "RATE_LIMIT_PER_ACCOUNT" || !strings.Contains(err.Error(), "more than RATE_LIMIT") {
		t.Fatalf("a share above the whole budget: %v", err)
	}
}
