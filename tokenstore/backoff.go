package tokenstore

import (
	"math/rand/v2"
	"sync"
	"time"
)

// backoff is an account's token-endpoint backoff after temporary failures, as a
// value: how many calls failed in a row and when the next call may be made. There
// are two deadlines: while a valid token is still served the backoff is long
// (capped at RetryMax); once callers get errors it is short (capped at
// RetryMaxExpired), so they get tokens again soon after the endpoint recovers.
type backoff struct {
	failures int
	// notBefore: no token-endpoint call before it while a valid token is served.
	notBefore time.Time
	// notBeforeExpired: the same once no valid token is left to serve.
	notBeforeExpired time.Time
}

// until is when the next call may be made; serving tells whether a valid token is
// still served.
func (b backoff) until(serving bool) time.Time {
	if serving {
		return b.notBefore
	}
	return b.notBeforeExpired
}

// backoffPolicy computes backoffs: exponential from base, with jitter in [b/2, b],
// capped at max while a token is served and at maxExpired when none is.
type backoffPolicy struct {
	base, max, maxExpired time.Duration
	jitter                func(time.Duration) time.Duration // default: uniform in [b/2, b]
}

func newBackoffPolicy(base, maxServing, maxExpired time.Duration) backoffPolicy {
	return backoffPolicy{base: base, max: maxServing, maxExpired: maxExpired,
		jitter: func(b time.Duration) time.Duration { return b/2 + rand.N(b/2+1) }}
}

// failed returns b after one more failure at now.
func (p backoffPolicy) failed(b backoff, now time.Time) backoff {
	b.failures++
	exp := p.base << min(b.failures-1, 16)
	long, short := p.jitter(min(exp, p.max)), p.jitter(min(exp, p.maxExpired))
	b.notBefore, b.notBeforeExpired = now.Add(long), now.Add(min(short, long))
	return b
}

// accountBackoff is one account's backoff. Its mutex is held only to read or replace
// the value.
type accountBackoff struct {
	mu sync.Mutex
	b  backoff
}

func (a *accountBackoff) get() backoff {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.b
}

// fail counts a failure and returns the wait before the next call.
func (a *accountBackoff) fail(p backoffPolicy, now time.Time, serving bool) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.b = p.failed(a.b, now)
	return a.b.until(serving).Sub(now)
}

func (a *accountBackoff) reset() {
	a.mu.Lock()
	a.b = backoff{}
	a.mu.Unlock()
}
