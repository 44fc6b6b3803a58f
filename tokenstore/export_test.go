package tokenstore

import (
	"context"
	"time"
)

// Test hooks: they exist only in tests, never in the production options.

// WithBeforeWrite returns cfg with fn called after a refresh succeeded and before its
// conditional write (to pause a lock holder).
func WithBeforeWrite(cfg *Config, fn func(account string)) { cfg.beforeWrite = fn }

// WithPauseExtension returns o whose leases are not extended while fn returns true
// for their account, as if the holder were paused.
func (o RedisLockerOptions) WithPauseExtension(fn func(account string) bool) RedisLockerOptions {
	o.pauseExtension = fn
	return o
}

// WithValidationSleep makes fn the validator's waits (pacing, intervals) instead of
// real time: tests move their manual clock in it. fn reports false to stop.
func WithValidationSleep(cfg *Config, fn func(ctx context.Context, d time.Duration) bool) {
	cfg.validateSleep = fn
}

// ValidatePass runs one validation pass now (Config.ValidateEvery must be set). It
// returns how many accounts it refreshed or tried, and false when another Source
// held the validation claim.
func (s *Source) ValidatePass(ctx context.Context) (tried int, ran bool) {
	return s.validator.pass(ctx)
}
