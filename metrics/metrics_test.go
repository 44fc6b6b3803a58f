package metrics_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

// contract is the README's "Metrics reference" table: name → type and label names.
var contract = map[string]struct {
	typ    dto.MetricType
	labels []string
}{
	"spotify_proxy_requests_total":                  {dto.MetricType_COUNTER, []string{"code", "method"}},
	"spotify_proxy_request_duration_seconds":        {dto.MetricType_HISTOGRAM, []string{"method"}},
	"spotify_proxy_upstream_retries_total":          {dto.MetricType_COUNTER, []string{"reason", "result"}},
	"spotify_proxy_token_refreshes_total":           {dto.MetricType_COUNTER, []string{"result", "trigger"}},
	"spotify_proxy_token_refresh_duration_seconds":  {dto.MetricType_HISTOGRAM, nil},
	"spotify_proxy_token_refresh_races_total":       {dto.MetricType_COUNTER, []string{"outcome"}},
	"spotify_proxy_lock_wait_seconds":               {dto.MetricType_HISTOGRAM, nil},
	"spotify_proxy_store_errors_total":              {dto.MetricType_COUNTER, []string{"op"}},
	"spotify_proxy_upstream_rate_limited_total":     {dto.MetricType_COUNTER, nil},
	"spotify_proxy_accounts":                        {dto.MetricType_GAUGE, []string{"status"}},
	"spotify_proxy_refresh_token_age_seconds":       {dto.MetricType_GAUGE, nil},
	"spotify_proxy_accounts_refresh_token_expiring": {dto.MetricType_GAUGE, nil},
	"spotify_proxy_rate_limit_blocked_seconds":      {dto.MetricType_GAUGE, nil},
	"spotify_proxy_rate_limited_requests_total":     {dto.MetricType_COUNTER, []string{"cause", "outcome"}},
	"spotify_proxy_rate_limit_wait_seconds":         {dto.MetricType_HISTOGRAM, nil},
}

func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func TestContractMetricsExistFromFirstScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.ObserveRequest("GET", 200, time.Millisecond) // method/code series appear with the first request
	got := gather(t, reg)
	for name, want := range contract {
		mf, ok := got[name]
		if !ok {
			t.Errorf("%s not registered", name)
			continue
		}
		if mf.GetType() != want.typ {
			t.Errorf("%s is %v, want %v", name, mf.GetType(), want.typ)
		}
		for _, metric := range mf.GetMetric() {
			var labels []string
			for _, l := range metric.GetLabel() {
				labels = append(labels, l.GetName())
			}
			if !slices.Equal(labels, want.labels) {
				t.Errorf("%s labels %v, want %v", name, labels, want.labels)
			}
		}
	}
	// Every contract label value is there before any event.
	wantSeries := map[string]int{
		"spotify_proxy_token_refreshes_total":       6 * 3,
		"spotify_proxy_token_refresh_races_total":   5,
		"spotify_proxy_store_errors_total":          7, // read write delete list lock ratelimit events
		"spotify_proxy_accounts":                    2,
		"spotify_proxy_upstream_retries_total":      3 * 2,
		"spotify_proxy_rate_limited_requests_total": 2 * 2,
	}
	for name, n := range wantSeries {
		if c := len(got[name].GetMetric()); c != n {
			t.Errorf("%s has %d series at start, want %d", name, c, n)
		}
	}
}

func TestMetricsMoveOnEvents(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	m.ObserveRequest("GET", 200, time.Millisecond)
	m.ObserveRequest("GET", 200, time.Millisecond)
	m.ObserveRequest("BREW", 418, time.Millisecond)
	m.Refresh("ahead", "success", time.Second)
	m.Race("peer_refreshed")
	m.StoreError("write")
	m.LockWaited(time.Second)
	m.Retry(true)
	m.RateLimitedInc()
	m.RetryFor(metrics.RetryServerError, false)
	m.RateLimitedRequest(metrics.OutcomeRejected, metrics.CauseBudget)
	m.RateLimitWaited(time.Second)
	m.SetAccounts(3, 1, 48*time.Hour)
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"requests GET 200", testutil.ToFloat64(m.Requests.WithLabelValues("GET", "200")), 2},
		{"requests OTHER 418", testutil.ToFloat64(m.Requests.WithLabelValues("OTHER", "418")), 1},
		{"refreshes", testutil.ToFloat64(m.TokenRefreshes.WithLabelValues("ahead", "success")), 1},
		{"races", testutil.ToFloat64(m.RefreshRaces.WithLabelValues("peer_refreshed")), 1},
		{"store errors", testutil.ToFloat64(m.StoreErrors.WithLabelValues("write")), 1},
		{"retries", testutil.ToFloat64(m.UpstreamRetries.WithLabelValues("unauthorized", "success")), 1},
		{"5xx retries", testutil.ToFloat64(m.UpstreamRetries.WithLabelValues("upstream_5xx", "failure")), 1},
		{"rejected by budget", testutil.ToFloat64(m.RateLimitedRequests("rejected", "budget")), 1},
		{"rate limit waits", float64(testutil.CollectAndCount(m.RateLimitWaitHistogram())), 1},
		{"rate limited", testutil.ToFloat64(m.RateLimited), 1},
		{"accounts ok", testutil.ToFloat64(m.Accounts.WithLabelValues("ok")), 3},
		{"accounts reauth", testutil.ToFloat64(m.Accounts.WithLabelValues("reauth_required")), 1},
		{"token age", testutil.ToFloat64(m.RefreshTokenAge), 48 * 3600},
		{"lock wait count", float64(testutil.CollectAndCount(m.LockWait)), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	var nilM *metrics.Metrics
	nilM.ObserveRequest("GET", 200, 0) // a nil *Metrics records nothing and does not panic
}

// The names in the README's reference table are exactly the registered contract.
func TestNamesMatchDocs(t *testing.T) {
	re := regexp.MustCompile("`(spotify_proxy_[a-z_]+)`")
	for _, path := range []string{"../README.md"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if i := strings.Index(text, "## Metrics"); i >= 0 {
			text = text[i:]
		}
		seen := map[string]bool{}
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			seen[m[1]] = true
		}
		for name := range contract {
			if !seen[name] {
				t.Errorf("%s: %s not documented", path, name)
			}
		}
		reg := prometheus.NewRegistry()
		metrics.New(reg).ObserveRequest("GET", 200, 0)
		got := gather(t, reg)
		for name := range seen {
			if _, ok := got[name]; !ok && !strings.HasPrefix(name, "spotify_proxy_upstream_request") {
				if _, ok := contract[name]; ok || path == "../README.md" {
					t.Errorf("%s documents %s, which is not registered", path, name)
				}
			}
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestInstrumentUpstream(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	var inFlight float64
	rt := m.InstrumentUpstream(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		inFlight = testutil.ToFloat64(m.UpstreamInFlight)
		if r.Method == "PUT" {
			return nil, errors.New("connection refused")
		}
		return &http.Response{StatusCode: 429, Body: http.NoBody}, nil
	}))
	for _, method := range []string{"GET", "GET", "BREW", "PUT"} {
		req := httptest.NewRequest(method, "http://upstream/v1/me", nil)
		resp, err := rt.RoundTrip(req)
		if (err != nil) != (method == "PUT") {
			t.Fatalf("%s: err = %v", method, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"in flight during the call", inFlight, 1},
		{"in flight after", testutil.ToFloat64(m.UpstreamInFlight), 0},
		{"GET 429", testutil.ToFloat64(m.UpstreamRequests.WithLabelValues("GET", "429")), 2},
		{"OTHER 429", testutil.ToFloat64(m.UpstreamRequests.WithLabelValues("OTHER", "429")), 1},
		{"series (a failed call has no status)", float64(testutil.CollectAndCount(m.UpstreamRequests)), 2},
		{"GET durations", histCount(t, m.UpstreamDuration.WithLabelValues("GET")), 2},
		{"OTHER durations", histCount(t, m.UpstreamDuration.WithLabelValues("OTHER")), 1},
		{"PUT durations (failed)", histCount(t, m.UpstreamDuration.WithLabelValues("PUT")), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	var nilM *metrics.Metrics
	if nilM.InstrumentUpstream(http.DefaultTransport) != http.DefaultTransport {
		t.Error("a nil *Metrics must return the transport unwrapped")
	}
}

func histCount(t *testing.T, o prometheus.Observer) float64 {
	t.Helper()
	var d dto.Metric
	if err := o.(prometheus.Metric).Write(&d); err != nil {
		t.Fatal(err)
	}
	return float64(d.GetHistogram().GetSampleCount())
}

func TestRateLimitBlockedGaugeCountsDown(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	blocked := func() float64 {
		for _, mf := range gather(t, reg) {
			if mf.GetName() == "spotify_proxy_rate_limit_blocked_seconds" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no blocked gauge")
		return 0
	}
	if v := blocked(); v != 0 {
		t.Fatalf("blocked before any block = %v", v)
	}
	m.SetRateLimitBlockedUntil(time.Now().Add(time.Hour))
	if v := blocked(); v < 3500 || v > 3600 {
		t.Fatalf("blocked = %v, want about 3600", v)
	}
	m.SetRateLimitBlockedUntil(time.Now().Add(-time.Minute))
	if v := blocked(); v != 0 {
		t.Fatalf("blocked after the block = %v, want 0", v)
	}
}
