package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values of the rate-limit metrics, all initialised to zero by New.
var (
	RateLimitOutcomes = []string{OutcomeWaited, OutcomeRejected}
	RateLimitCauses   = []string{CauseUpstream429, CauseBudget}
	RetryReasons      = []string{RetryUnauthorized, RetryServerError, RetryConnectionError}
)

// Label value constants of the rate-limit and retry metrics.
const (
	OutcomeWaited   = "waited"
	OutcomeRejected = "rejected"

	CauseUpstream429 = "upstream_429" // a block after Spotify's 429
	CauseBudget      = "budget"       // RATE_LIMIT or RATE_LIMIT_PER_ACCOUNT

	RetryUnauthorized    = "unauthorized" // a 401: new token, sent once more
	RetryServerError     = "upstream_5xx" // 502, 503 or 504 to a GET or HEAD
	RetryConnectionError = "connection"   // no answer to a GET or HEAD

	OpRateLimit = "ratelimit" // the shared block and budget in Redis
)

// rateLimit holds the rate-limit collectors.
type rateLimit struct {
	blockedUntil atomic.Int64 // unix nanoseconds
	requests     *prometheus.CounterVec
	wait         prometheus.Histogram
}

func newRateLimit(reg prometheus.Registerer) *rateLimit {
	r := &rateLimit{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotify_proxy_rate_limited_requests_total",
			Help: "Requests held by the proxy's rate limiting, by outcome (waited, then sent; rejected with 429) and cause (a block after Spotify's 429; the RATE_LIMIT budget).",
		}, []string{"outcome", "cause"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "spotify_proxy_rate_limit_wait_seconds", Help: "Time requests waited for a rate-limit block to end or a budget slot to free.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
	}
	blocked := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "spotify_proxy_rate_limit_blocked_seconds", Help: "Seconds left of the block Spotify's last 429 imposed (0: not blocked).",
	}, func() float64 {
		return max(time.Until(time.Unix(0, r.blockedUntil.Load())).Seconds(), 0)
	})
	reg.MustRegister(r.requests, r.wait, blocked)
	for _, o := range RateLimitOutcomes {
		for _, c := range RateLimitCauses {
			r.requests.WithLabelValues(o, c)
		}
	}
	return r
}

// SetRateLimitBlockedUntil records the end of the block in force.
func (m *Metrics) SetRateLimitBlockedUntil(t time.Time) {
	if m == nil {
		return
	}
	m.rl.blockedUntil.Store(t.UnixNano())
}

// RateLimitedRequest counts a request held by rate limiting.
func (m *Metrics) RateLimitedRequest(outcome, cause string) {
	if m == nil {
		return
	}
	m.rl.requests.WithLabelValues(outcome, cause).Inc()
}

// RateLimitWaited records how long a request waited before it was sent.
func (m *Metrics) RateLimitWaited(d time.Duration) {
	if m == nil {
		return
	}
	m.rl.wait.Observe(d.Seconds())
}

// RateLimitedRequests is the counter of outcome and cause, for tests.
func (m *Metrics) RateLimitedRequests(outcome, cause string) prometheus.Counter {
	return m.rl.requests.WithLabelValues(outcome, cause)
}

// RetryFor records the result of a request retried for reason (RetryReasons).
func (m *Metrics) RetryFor(reason string, ok bool) {
	if m == nil {
		return
	}
	result := "failure"
	if ok {
		result = ResultSuccess
	}
	m.UpstreamRetries.WithLabelValues(reason, result).Inc()
}

// RateLimitWaitHistogram is the wait histogram, for tests.
func (m *Metrics) RateLimitWaitHistogram() prometheus.Histogram { return m.rl.wait }
