package config

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
)

func TestValidationIsOffByDefault(t *testing.T) {
	c, err := Load(nil, env(base()), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.ValidateEvery != 0 || c.ValidateRate != (ratelimit.Limit{N: 1, Per: time.Second}) || c.ValidatePace() != time.Second {
		t.Fatalf("validation defaults: every %v, rate %v, pace %v", c.ValidateEvery, c.ValidateRate, c.ValidatePace())
	}
}

func TestValidationSettingsParse(t *testing.T) {
	for _, tc := range []struct {
		every, rate string
		wantEvery   time.Duration
		wantPace    time.Duration
	}{
		{"24h", "1/s", 24 * time.Hour, time.Second},
		{"12h", "30/m", 12 * time.Hour, 2 * time.Second},
		{"2s", "10/1s", 2 * time.Second, 100 * time.Millisecond},
		{"0", "1/s", 0, time.Second},
	} {
		e := base()
		e["VALIDATE_EVERY"], e["VALIDATE_RATE"] = tc.every, tc.rate
		c, err := Load(nil, env(e), &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%s, %s: %v", tc.every, tc.rate, err)
		}
		if c.ValidateEvery != tc.wantEvery || c.ValidatePace() != tc.wantPace {
			t.Errorf("%s, %s: every %v pace %v, want %v %v", tc.every, tc.rate, c.ValidateEvery, c.ValidatePace(), tc.wantEvery, tc.wantPace)
		}
	}
	c, err := Load([]string{"--validate-every", "6h", "--validate-rate", "5/m"}, env(base()), &bytes.Buffer{})
	if err != nil || c.ValidateEvery != 6*time.Hour || c.ValidatePace() != 12*time.Second {
		t.Fatalf("flags: %v %+v", err, c)
	}
}

// A bad value stops start-up with an error naming the variable.
func TestValidationBadValuesNameTheVariable(t *testing.T) {
	for _, tc := range []struct{ k, v string }{
		{"VALIDATE_EVERY", "daily"},
		{"VALIDATE_EVERY", "24"},
		{"VALIDATE_EVERY", "-1h"},
		{"VALIDATE_EVERY", "500ms"},
		{"VALIDATE_RATE", "1"},
		{"VALIDATE_RATE", "0/s"},
		{"VALIDATE_RATE", "1/never"},
		{"VALIDATE_RATE", "1/0s"},
	} {
		e := base()
		e["VALIDATE_EVERY"] = "24h"
		e[tc.k] = tc.v
		_, err := Load(nil, env(e), &bytes.Buffer{})
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != tc.k {
			t.Errorf("%s=%q: error %v, want one naming %s", tc.k, tc.v, err, tc.k)
		}
	}
	// Set empty on the command line: no rate at all.
	_, err := Load([]string{"--validate-rate="}, env(base()), &bytes.Buffer{})
	var ce *Error
	if !errors.As(err, &ce) || ce.Var != "VALIDATE_RATE" {
		t.Fatalf("empty rate: %v", err)
	}
}
