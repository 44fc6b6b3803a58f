package ratelimit

import (
	"sync"
	"time"
)

// RetryBudget bounds retries to a share of the requests over a sliding window
// (ten buckets of Window/10), plus a small floor so an idle proxy can still retry
// a single failure. It is safe for concurrent use.
type RetryBudget struct {
	ratio  float64
	floor  int
	bucket time.Duration
	now    func() time.Time

	mu      sync.Mutex
	start   int64 // index of the newest bucket
	reqs    [10]int
	retries [10]int
}

// NewRetryBudget allows retries up to ratio × the requests of the last window,
// plus floor per window. now nil means time.Now.
func NewRetryBudget(ratio float64, floor int, window time.Duration, now func() time.Time) *RetryBudget {
	if now == nil {
		now = time.Now
	}
	return &RetryBudget{ratio: ratio, floor: floor, bucket: max(window/10, time.Millisecond), now: now}
}

// advance moves the window to now and returns the current bucket.
func (b *RetryBudget) advance() int {
	idx := b.now().UnixNano() / int64(b.bucket)
	if gap := idx - b.start; gap > 0 {
		for i := int64(1); i <= min(gap, 10); i++ {
			j := (b.start + i) % 10
			b.reqs[j], b.retries[j] = 0, 0
		}
		b.start = idx
	}
	return int(b.start % 10)
}

// Request counts a request.
func (b *RetryBudget) Request() {
	b.mu.Lock()
	b.reqs[b.advance()]++
	b.mu.Unlock()
}

// Withdraw takes one retry when the window allows it.
func (b *RetryBudget) Withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.advance()
	reqs, retries := 0, 0
	for j := range 10 {
		reqs += b.reqs[j]
		retries += b.retries[j]
	}
	if float64(retries+1) > b.ratio*float64(reqs)+float64(b.floor) {
		return false
	}
	b.retries[i]++
	return true
}
