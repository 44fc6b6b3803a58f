package events

import "time"

// Backoff of webhook retries: the n-th retry (n ≥ 1) waits base·2^(n-1), capped at
// max, of which a random part up to half is taken off (jitter), so that replicas
// and accounts retrying after one outage do not arrive together.
type backoff struct {
	base, max time.Duration
	// rand returns a number in [0, 1) (math/rand/v2.Float64; a constant in tests).
	rand func() float64
}

// DefaultRetryBase and DefaultRetryMax bound the wait between two attempts.
const (
	DefaultRetryBase = time.Second
	DefaultRetryMax  = time.Hour
)

func (b backoff) delay(retry int) time.Duration {
	d := b.base
	for i := 1; i < retry && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	return d - time.Duration(b.rand()*float64(d/2))
}
