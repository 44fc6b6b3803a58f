package proxy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// staticRT answers every request from memory, so a benchmark measures the proxy's own
// cost (header handling, token lookup, copying), not the network.
type staticRT struct{ body string }

func (s staticRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(s.body)),
		ContentLength: int64(len(s.body)), Request: r,
	}, nil
}

// staticTokens is the cheapest possible token source.
type staticTokens struct{ c *tokenstore.Credential }

func (s staticTokens) Token(context.Context, string) (*tokenstore.Credential, error) { return s.c, nil }
func (s staticTokens) Invalidate(context.Context, string, string, time.Time) (*tokenstore.Credential, error) {
	return s.c, nil
}

const benchBody = `{"id":"user-1","display_name":"Emulated User 1","type":"user"}`

func benchHandler(b *testing.B, h http.Handler) { benchHandlerHost(b, h, "") }

// benchHandlerHost sends requests with Host host (httptest's default when empty).
func benchHandlerHost(b *testing.B, h http.Handler, host string) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/v1/me", nil)
		if host != "" {
			req.Host = host
		}
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}

// BenchmarkBareReverseProxy is the floor: httputil.ReverseProxy with a static token.
func BenchmarkBareReverseProxy(b *testing.B) {
	u, _ := url.Parse("http://upstream")
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Header.Set("Authorization", "Bearer static-token")
		},
		Transport: staticRT{benchBody},
	}
	benchHandler(b, rp)
}

// BenchmarkProxy is the project's proxy with a token source answering from memory.
func BenchmarkProxy(b *testing.B) {
	u, _ := url.Parse("http://upstream")
	p, _ := proxy.New(proxy.Config{
		Upstream: u, Transport: staticRT{benchBody}, Metrics: metrics.New(prometheus.NewRegistry()),
		Tokens: staticTokens{tokenstore.NewCredential("static-token", time.Now().Add(time.Hour), "")},
	})
	benchHandler(b, p)
}

// BenchmarkProxyAllowedHosts is BenchmarkProxy with the Host check on, listing the
// default ALLOWED_HOSTS (the loopback names).
func BenchmarkProxyAllowedHosts(b *testing.B) {
	u, _ := url.Parse("http://upstream")
	p, _ := proxy.New(proxy.Config{
		Upstream: u, Transport: staticRT{benchBody}, Metrics: metrics.New(prometheus.NewRegistry()),
		Tokens:       staticTokens{tokenstore.NewCredential("static-token", time.Now().Add(time.Hour), "")},
		AllowedHosts: []string{"localhost", "127.0.0.1", "::1"},
	})
	benchHandlerHost(b, p, "127.0.0.1:8080")
}

// BenchmarkProxyWithSource adds the real token source (warm cache, file store).
func BenchmarkProxyWithSource(b *testing.B) {
	f := newBenchSource(b)
	u, _ := url.Parse("http://upstream")
	p, _ := proxy.New(proxy.Config{Upstream: u, Transport: staticRT{benchBody}, Tokens: f, Metrics: metrics.New(prometheus.NewRegistry())})
	benchHandler(b, p)
}

type benchRefresher struct{}

func (benchRefresher) Refresh(context.Context, string) (tokenstore.Token, error) {
	return tokenstore.Token{AccessToken: "fresh-token", Expiry: time.Now().Add(time.Hour)}, nil
}
func (benchRefresher) ClientCredentials(context.Context) (tokenstore.Token, error) {
	return tokenstore.Token{AccessToken: "cc-token", Expiry: time.Now().Add(time.Hour)}, nil
}

func newBenchSource(b *testing.B) *tokenstore.Source {
	b.Helper()
	st, err := tokenstore.OpenFileStore(b.TempDir()+"/t.json", nil)
	if err != nil {
		b.Fatal(err)
	}
	src := tokenstore.NewSource(tokenstore.Config{Store: st, Refresher: benchRefresher{}, ScanInterval: -1, RecheckAfter: time.Hour})
	b.Cleanup(func() { src.Close(); st.Close() })
	if _, err := src.Seed(context.Background(), "default", "rt"); err != nil {
		b.Fatal(err)
	}
	if _, err := src.Token(context.Background(), "default"); err != nil {
		b.Fatal(err)
	}
	return src
}

// BenchmarkSourceTokenWarm: the steady-state token lookup alone (0 allocs expected).
func BenchmarkSourceTokenWarm(b *testing.B) {
	src := newBenchSource(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := src.Token(ctx, "default"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
