package tokenstore

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
