package metrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values of the contract. Every one is initialised to zero by New, so each
// series exists from the first scrape.
var (
	RefreshTriggers = []string{TriggerAhead, TriggerExpired, TriggerUnauthorized, TriggerLogin, TriggerAdmin, TriggerValidate}
	RefreshResults  = []string{ResultSuccess, ResultInvalidGrant, ResultError}
	RaceOutcomes    = []string{RaceCoalesced, RacePeerRefreshed, RaceLockTimeout, RaceStaleWriteRejected, RaceInvalidGrantRecovered}
	StoreOps        = []string{OpRead, OpWrite, OpDelete, OpList, OpLock, OpRateLimit, OpEvents}
	AccountStatuses = []string{"ok", "reauth_required"}
	RetryResults    = []string{ResultSuccess, "failure"}
)

// Label value constants.
const (
	TriggerAhead        = "ahead"
	TriggerExpired      = "expired"
	TriggerUnauthorized = "unauthorized"
	TriggerLogin        = "login"
	TriggerAdmin        = "admin"
	TriggerValidate     = "validate"

	ResultSuccess      = "success"
	ResultInvalidGrant = "invalid_grant"
	ResultError        = "error"

	RaceCoalesced             = "coalesced"
	RacePeerRefreshed         = "peer_refreshed"
	RaceLockTimeout           = "lock_timeout"
	RaceStaleWriteRejected    = "stale_write_rejected"
	RaceInvalidGrantRecovered = "invalid_grant_recovered"

	OpRead   = "read"
	OpWrite  = "write"
	OpDelete = "delete"
	OpList   = "list"
	OpLock   = "lock"
)

// Metrics is the set of collectors of the proxy. A nil *Metrics is valid and records
// nothing, so packages can be used without metrics in tests.
type Metrics struct {
	Requests            *prometheus.CounterVec
	RequestDuration     *prometheus.HistogramVec
	UpstreamRetries     *prometheus.CounterVec
	TokenRefreshes      *prometheus.CounterVec
	TokenRefreshSeconds prometheus.Histogram
	RefreshRaces        *prometheus.CounterVec
	LockWait            prometheus.Histogram
	StoreErrors         *prometheus.CounterVec
	RateLimited         prometheus.Counter
	Accounts            *prometheus.GaugeVec
	RefreshTokenAge     prometheus.Gauge
	// AccountsExpiring counts the ok accounts whose refresh token's lifetime ends
	// within EXPIRY_WARNING (or has ended).
	AccountsExpiring prometheus.Gauge

	// Account events and their webhook deliveries (package events).
	Events                  *prometheus.CounterVec
	WebhookDeliveries       *prometheus.CounterVec
	EventsOldestUndelivered prometheus.Gauge

	// Upstream is the instrumentation of the proxy's transport (InstrumentUpstream),
	// not part of the contract's fixed names.
	UpstreamInFlight prometheus.Gauge
	UpstreamRequests *prometheus.CounterVec
	UpstreamDuration *prometheus.HistogramVec

	// The request paths use cached children, so they do not hash label values on
	// every request.
	requests, upstream         codeCounters
	durationByMeth, upDuration [methodSlots]prometheus.Observer

	rl *rateLimit // the rate-limit collectors (ratelimit.go)
}

// codeCounters caches the children of a (method, code) counter vector.
type codeCounters struct {
	vec   *prometheus.CounterVec
	slots [methodSlots][600]atomic.Pointer[counterBox]
}

type counterBox struct{ prometheus.Counter }

func (c *codeCounters) inc(slot int, method string, code int) {
	if code < 100 || code > 599 {
		code = 0
	}
	p := &c.slots[slot][code]
	b := p.Load()
	if b == nil {
		// Two goroutines may both resolve the child; WithLabelValues returns the
		// same counter to both, so either store is correct.
		b = &counterBox{c.vec.WithLabelValues(method, strconv.Itoa(code))}
		p.Store(b)
	}
	b.Inc()
}

const methodSlots = 10

var methodIndex = map[string]int{
	"GET": 0, "POST": 1, "PUT": 2, "DELETE": 3, "PATCH": 4, "HEAD": 5, "OPTIONS": 6, "CONNECT": 7, "TRACE": 8,
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotify_proxy_requests_total", Help: "Requests answered by the proxy, by method and status code.",
		}, []string{"method", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "spotify_proxy_request_duration_seconds", Help: "Time to answer a proxied request, including token retrieval and any retry.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method"}),
		UpstreamRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotify_proxy_upstream_retries_total", Help: "Requests sent to Spotify again, by reason (a 401; a 502, 503 or 504 to a GET or HEAD; no answer to one) and the retried request's result.",
		}, []string{"reason", "result"}),
		TokenRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotify_proxy_token_refreshes_total", Help: "Token endpoint calls, by what triggered them and their result.",
		}, []string{"trigger", "result"}),
		TokenRefreshSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "spotify_proxy_token_refresh_duration_seconds", Help: "Duration of token endpoint calls.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		RefreshRaces: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotify_proxy_token_refresh_races_total", Help: "Refresh races resolved, by outcome.",
		}, []string{"outcome"}),
		LockWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "spotify_proxy_lock_wait_seconds", Help: "Time spent waiting for the distributed refresh lock.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		StoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotify_proxy_store_errors_total", Help: "Token store operations that failed, by operation.",
		}, []string{"op"}),
		RateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spotify_proxy_upstream_rate_limited_total", Help: "Upstream answers with status 429.",
		}),
		Accounts: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spotify_proxy_accounts", Help: "Accounts in the token store, by status (recomputed periodically, not per scrape).",
		}, []string{"status"}),
		RefreshTokenAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spotify_proxy_refresh_token_age_seconds", Help: "Age of the oldest user authorisation; Spotify refresh tokens die 6 months (15552000 s) after it.",
		}),
		AccountsExpiring: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spotify_proxy_accounts_refresh_token_expiring",
			Help: "Accounts in status ok whose refresh token's lifetime (authorized_at + REFRESH_TOKEN_LIFETIME) ends within EXPIRY_WARNING or has ended (recomputed periodically, not per scrape).",
		}),
		UpstreamInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spotify_proxy_upstream_in_flight_requests", Help: "Requests to Spotify in flight.",
		}),
		UpstreamRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotify_proxy_upstream_requests_total", Help: "Requests sent to Spotify, by method and status code.",
		}, []string{"method", "code"}),
		UpstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "spotify_proxy_upstream_request_duration_seconds", Help: "Duration of requests to Spotify until response headers.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method"}),
	}
	m.newEventCollectors(reg)
	reg.MustRegister(m.Requests, m.RequestDuration, m.UpstreamRetries, m.TokenRefreshes, m.TokenRefreshSeconds,
		m.RefreshRaces, m.LockWait, m.StoreErrors, m.RateLimited, m.Accounts, m.RefreshTokenAge, m.AccountsExpiring,
		m.UpstreamInFlight, m.UpstreamRequests, m.UpstreamDuration)
	for _, t := range RefreshTriggers {
		for _, r := range RefreshResults {
			m.TokenRefreshes.WithLabelValues(t, r)
		}
	}
	for _, o := range RaceOutcomes {
		m.RefreshRaces.WithLabelValues(o)
	}
	for _, o := range StoreOps {
		m.StoreErrors.WithLabelValues(o)
	}
	for _, s := range AccountStatuses {
		m.Accounts.WithLabelValues(s)
	}
	for _, reason := range RetryReasons {
		for _, r := range RetryResults {
			m.UpstreamRetries.WithLabelValues(reason, r)
		}
	}
	m.rl = newRateLimit(reg)
	m.requests.vec, m.upstream.vec = m.Requests, m.UpstreamRequests
	for meth, i := range methodIndex {
		m.durationByMeth[i] = m.RequestDuration.WithLabelValues(meth)
		m.upDuration[i] = m.UpstreamDuration.WithLabelValues(meth)
	}
	m.durationByMeth[methodSlots-1] = m.RequestDuration.WithLabelValues("OTHER")
	m.upDuration[methodSlots-1] = m.UpstreamDuration.WithLabelValues("OTHER")
	return m
}

func methodSlot(method string) (int, string) {
	if i, ok := methodIndex[method]; ok {
		return i, method
	}
	return methodSlots - 1, "OTHER"
}

// ObserveRequest records one answered request. Methods outside the standard set are
// counted as OTHER so a caller cannot create series at will.
func (m *Metrics) ObserveRequest(method string, code int, d time.Duration) {
	m.ObserveRequestTrace(method, code, d, "")
}

// ExemplarLabel is the exemplar label naming the trace of an observation.
const ExemplarLabel = "trace_id"

// ObserveRequestTrace is ObserveRequest with the trace id of the request's sampled
// span, which the duration carries as an exemplar ("" for none: no allocation).
func (m *Metrics) ObserveRequestTrace(method string, code int, d time.Duration, traceID string) {
	if m == nil {
		return
	}
	i, meth := methodSlot(method)
	m.requests.inc(i, meth, code)
	observe(m.durationByMeth[i], d, traceID)
}

// observe records d, with traceID as the exemplar when there is one.
func observe(o prometheus.Observer, d time.Duration, traceID string) {
	if traceID != "" {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(d.Seconds(), prometheus.Labels{ExemplarLabel: traceID})
			return
		}
	}
	o.Observe(d.Seconds())
}

// InstrumentUpstream wraps the transport to Spotify: requests in flight, requests by
// method and status code, and the time until response headers. Methods outside the
// standard set are counted as OTHER. With a nil *Metrics it returns rt.
func (m *Metrics) InstrumentUpstream(rt http.RoundTripper) http.RoundTripper {
	if m == nil {
		return rt
	}
	return upstreamTransport{m: m, rt: rt}
}

type upstreamTransport struct {
	m  *Metrics
	rt http.RoundTripper
}

func (t upstreamTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	m := t.m
	m.UpstreamInFlight.Inc()
	defer m.UpstreamInFlight.Dec()
	start := time.Now()
	resp, err := t.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	i, meth := methodSlot(r.Method)
	m.upstream.inc(i, meth, resp.StatusCode)
	m.upDuration[i].Observe(time.Since(start).Seconds())
	return resp, nil
}

// Refresh records a token endpoint call.
func (m *Metrics) Refresh(trigger, result string, d time.Duration) {
	m.RefreshTrace(trigger, result, d, "")
}

// RefreshTrace is Refresh with the trace id of the refresh's sampled span, which the
// duration carries as an exemplar ("" for none).
func (m *Metrics) RefreshTrace(trigger, result string, d time.Duration, traceID string) {
	if m == nil {
		return
	}
	m.TokenRefreshes.WithLabelValues(trigger, result).Inc()
	observe(m.TokenRefreshSeconds, d, traceID)
}

// Race records a resolved refresh race.
func (m *Metrics) Race(outcome string) {
	if m == nil {
		return
	}
	m.RefreshRaces.WithLabelValues(outcome).Inc()
}

// StoreError records a failed store operation.
func (m *Metrics) StoreError(op string) {
	if m == nil {
		return
	}
	m.StoreErrors.WithLabelValues(op).Inc()
}

// LockWaited records time spent waiting for the refresh lock.
func (m *Metrics) LockWaited(d time.Duration) {
	if m == nil {
		return
	}
	m.LockWait.Observe(d.Seconds())
}

// Retry records the result of a request retried after a 401.
func (m *Metrics) Retry(ok bool) {
	if m == nil {
		return
	}
	m.RetryFor(RetryUnauthorized, ok)
}

// RateLimitedInc counts an upstream 429.
func (m *Metrics) RateLimitedInc() {
	if m == nil {
		return
	}
	m.RateLimited.Inc()
}

// SetAccounts sets the account gauges and the oldest authorisation age.
func (m *Metrics) SetAccounts(ok, reauth int, oldestAuthAge time.Duration) {
	if m == nil {
		return
	}
	m.Accounts.WithLabelValues("ok").Set(float64(ok))
	m.Accounts.WithLabelValues("reauth_required").Set(float64(reauth))
	m.RefreshTokenAge.Set(oldestAuthAge.Seconds())
}

// SetAccountsExpiring sets the number of ok accounts whose refresh token's lifetime
// ends within the expiry warning.
func (m *Metrics) SetAccountsExpiring(n int) {
	if m == nil {
		return
	}
	m.AccountsExpiring.Set(float64(n))
}
