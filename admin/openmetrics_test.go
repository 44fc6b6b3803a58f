package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A scraper asking for OpenMetrics gets the duration histograms' exemplars, the
// trace ids of sampled requests and refreshes; the Prometheus text format has none.
func TestMetricsServeOpenMetricsExemplars(t *testing.T) {
	e := newEnv(t, envOption{})
	const reqTrace, refreshTrace = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
	e.m.ObserveRequestTrace("GET", 200, 30*time.Millisecond, reqTrace)
	e.m.RefreshTrace("expired", "success", 200*time.Millisecond, refreshTrace)

	scrape := func(accept string) (string, string) {
		hr := httptest.NewRequest("GET", "/metrics", nil)
		if accept != "" {
			hr.Header.Set("Accept", accept)
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, hr)
		wantStatus(t, w, http.StatusOK)
		return w.Header().Get("Content-Type"), w.Body.String()
	}
	ct, body := scrape("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	if !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("Content-Type %q, want OpenMetrics", ct)
	}
	for _, want := range []string{
		`spotify_proxy_request_duration_seconds_bucket{method="GET",le="0.05"} 1 # {trace_id="` + reqTrace + `"} 0.03`,
		`spotify_proxy_token_refresh_duration_seconds_bucket{le="0.25"} 1 # {trace_id="` + refreshTrace + `"} 0.2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("OpenMetrics scrape lacks\n%s\nin\n%s", want, grepLines(body, "_bucket"))
		}
	}
	ct, body = scrape("")
	if !strings.HasPrefix(ct, "text/plain") || strings.Contains(body, "trace_id") {
		t.Errorf("a plain scrape (%q) should be the text format without exemplars", ct)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
