package tokenstore

import (
	"context"
	"time"
)

// clock is tokenstore's one time source; no other file reads the time package's
// clock. It has two faces:
//
//   - Now is the injected clock (Config.Now): every instant compared with a token's or
//     a record's times (expiry, refresh-ahead, backoff, the 401 floor, how long an
//     error is remembered, the gauges' ages). Tests move it by hand.
//   - sleep, pause, stopwatch, ticker and wallNow measure and wait real durations: the
//     refresh lock's wait and lease (Redis expires it in real time), the grace given to
//     a peer's pending write, the pending-write retries, the scan ticker, the
//     validator's waits. A manual test clock must neither freeze nor skip them; only
//     the validator's waits may be replaced (Config.validateSleep), by tests that move
//     the injected clock as they wait. The validator therefore measures its pace (how
//     long since the previous refresh started) on Now, the clock its waits move.
type clock struct{ now func() time.Time }

func newClock(now func() time.Time) clock {
	if now == nil {
		now = time.Now
	}
	return clock{now: now}
}

// Now is the injected time.
func (c clock) Now() time.Time { return c.now() }

// wallNow is the real time, for instants compared with other real times only.
func (clock) wallNow() time.Time { return time.Now() }

// stopwatch returns a function reporting the real time elapsed since the call.
func (clock) stopwatch() func() time.Duration {
	start := time.Now()
	return func() time.Duration { return time.Since(start) }
}

// sleep waits d of real time, or until ctx ends.
func (clock) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// pause waits d of real time and reports true, or false when ctx ends first.
func (clock) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ticker ticks every d of real time.
func (clock) ticker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

// timer fires after d of real time.
func (clock) timer(d time.Duration) *time.Timer { return time.NewTimer(d) }
