package proxy_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// BenchmarkProxyRateLimitDefaults is BenchmarkProxy as the binary runs it by
// default: the rate-limit gate without a budget (no block) and UPSTREAM_RETRIES=2.
func BenchmarkProxyRateLimitDefaults(b *testing.B) {
	u, _ := url.Parse("http://upstream")
	m := metrics.New(prometheus.NewRegistry())
	p, _ := proxy.New(proxy.Config{
		Upstream: u, Transport: staticRT{benchBody}, Metrics: m,
		Tokens:    staticTokens{tokenstore.NewCredential("static-token", time.Now().Add(time.Hour), "")},
		RateLimit: ratelimit.NewGate(ratelimit.Config{App: "app", Metrics: m}), UpstreamRetries: 2,
	})
	benchHandler(b, p)
}
