package proxy

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// TokenSource hands out access tokens. *tokenstore.Source implements it.
// Both methods are called concurrently from many requests.
type TokenSource interface {
	// Token returns a valid token for account.
	Token(ctx context.Context, account string) (*tokenstore.Credential, error)
	// Invalidate reports that Spotify's 401 to usedToken arrived at rejectedAt, and
	// returns a token that may answer it (tokenstore decides which: see
	// tokenstore.Source.Invalidate), or tokenstore.ErrRefreshTooSoon, and then
	// Spotify's 401 passes through to the caller.
	Invalidate(ctx context.Context, account, usedToken string, rejectedAt time.Time) (*tokenstore.Credential, error)
}

// Config configures a Proxy. Upstream and Tokens are required.
type Config struct {
	Upstream       *url.URL
	Tokens         TokenSource
	DefaultAccount string
	// MaxReplayBody: request bodies up to this size are buffered so a request that got
	// a 401 can be retried; larger bodies stream and their 401 passes through.
	MaxReplayBody int64
	// MaxReplayMemory caps the bytes all requests together hold in replay buffers;
	// past it, bodies stream and their 401 passes through. Zero means 64 MiB;
	// negative, no cap.
	MaxReplayMemory int64
	// BodyReadTimeout ends a request whose body sends nothing for this long with 408
	// PROXY_BODY_TIMEOUT; each read restarts it, so an upload that keeps arriving is
	// not cut. Zero means 30s; negative, no limit.
	BodyReadTimeout time.Duration
	// UpstreamIdleTimeout cuts an answer from Spotify that sends no bytes for this
	// long, and closes the caller's connection. Zero means 60s; negative, no limit.
	UpstreamIdleTimeout time.Duration
	// AllowedHosts are the Host names (no port, IPv6 without brackets; compared
	// without case) the proxy answers; others get 421 PROXY_FORBIDDEN_HOST. Nil
	// answers any Host.
	AllowedHosts []string
	// ProxyAuthToken, when set, must arrive as "Proxy-Authorization: Bearer <it>".
	ProxyAuthToken string
	// Transport to Spotify; default NewTransport(30s).
	Transport http.RoundTripper
	Metrics   *metrics.Metrics
	Logger    *slog.Logger
	Now       func() time.Time
	// RewriteResponseURLs rewrites Upstream's absolute /v1/ URLs (scheme://host[:port]
	// followed by /v1/) in JSON answers and Location headers to PublicURL + "/v1/",
	// so paging links (href, next, previous) lead back through the proxy. A gzip JSON
	// answer is decoded and sent uncompressed; br and deflate pass untouched.
	RewriteResponseURLs bool
	// PublicURL is the proxy's base URL as callers reach it, possibly with a path
	// prefix; nil means "http://" + the request's Host.
	PublicURL *url.URL
	// RateLimit holds calls to Spotify during a 429 block and within the budget;
	// nil: none (ratelimit.go).
	RateLimit *ratelimit.Gate
	// UpstreamRetries: a GET or HEAD answered 502/503/504, or not at all, is sent
	// again up to this many times within RetryBudget (ratelimit_retry.go). Zero: none.
	UpstreamRetries int
	// RetryBudget bounds those retries; nil: 10% of the requests over 10s, plus 10.
	RetryBudget *ratelimit.RetryBudget
	// RetryBackoff is the base of the jittered backoff between retries; zero: 50ms.
	RetryBackoff time.Duration
	// Tracing: spans of requests, token lookups, upstream calls and retries
	// (tracing.go). The zero value records none.
	Tracing Tracing
}

// Proxy is the reverse proxy handler.
type Proxy struct {
	cfg       Config
	rp        *httputil.ReverseProxy
	log       *slog.Logger
	m         *metrics.Metrics
	now       func() time.Time
	proxyAuth []byte
	states    sync.Pool
	// allowedHosts is Config.AllowedHosts in lower case, without brackets.
	allowedHosts []string
	// replayHeld is the bytes of MaxReplayMemory reserved by requests in flight.
	replayHeld atomic.Int64
	urls       *urlRewriter // nil: responses are not rewritten
	// retryBudget bounds the safe retries; nil when UpstreamRetries is zero.
	retryBudget *ratelimit.RetryBudget
	tr          *tracer // nil: no spans
}

// Header names the proxy owns.
const (
	HeaderAccount = "X-Spotify-Account"
	headerAuth    = "Authorization"
	headerPAuth   = "Proxy-Authorization"
)

// New builds a Proxy.
func New(cfg Config) (*Proxy, error) {
	if cfg.Upstream == nil || cfg.Upstream.Host == "" {
		return nil, errors.New("proxy: an upstream URL with a host is required")
	}
	if cfg.Tokens == nil {
		return nil, errors.New("proxy: a token source is required")
	}
	if cfg.DefaultAccount == "" {
		cfg.DefaultAccount = "default"
	}
	if cfg.MaxReplayBody == 0 {
		cfg.MaxReplayBody = 1 << 20
	}
	if cfg.MaxReplayMemory == 0 {
		cfg.MaxReplayMemory = 64 << 20
	}
	if cfg.BodyReadTimeout == 0 {
		cfg.BodyReadTimeout = 30 * time.Second
	}
	if cfg.UpstreamIdleTimeout == 0 {
		cfg.UpstreamIdleTimeout = 60 * time.Second
	}
	if cfg.Transport == nil {
		cfg.Transport = NewTransport(30 * time.Second)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Proxy{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, now: cfg.Now, tr: newTracer(cfg.Tracing)}
	if cfg.ProxyAuthToken != "" {
		p.proxyAuth = []byte("Bearer " + cfg.ProxyAuthToken)
	}
	if cfg.AllowedHosts != nil {
		p.allowedHosts = make([]string, 0, len(cfg.AllowedHosts))
		for _, h := range cfg.AllowedHosts {
			p.allowedHosts = append(p.allowedHosts, strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")))
		}
	}
	if cfg.UpstreamRetries > 0 {
		p.retryBudget = cfg.RetryBudget
		if p.retryBudget == nil {
			p.retryBudget = ratelimit.NewRetryBudget(0.1, 10, 10*time.Second, cfg.Now)
		}
		if p.cfg.RetryBackoff <= 0 {
			p.cfg.RetryBackoff = 50 * time.Millisecond
		}
	}
	p.states.New = func() any { return new(state) }
	if cfg.RewriteResponseURLs {
		p.urls = newURLRewriter(cfg.Upstream, cfg.PublicURL)
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      &retrier{p: p, base: p.tr.transport(cfg.Transport)},
		BufferPool:     newBufferPool(),
		ErrorHandler:   p.errorHandler,
		ModifyResponse: p.modifyResponse,
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return p, nil
}

// NewTransport returns the transport tuned for many concurrent requests to one host:
// the default of 2 idle connections per host would open a new connection for most
// requests under load. responseHeaderTimeout bounds the wait for Spotify's answer.
// The connections keep the default 4 KiB read and write buffers: bodies larger than
// that bypass them (the copy buffer is 32 KiB), and 16 KiB buffers cost ≈ 2 MB of RSS
// at 64 connections for no measurable throughput (BENCHMARKS.md).
func NewTransport(responseHeaderTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		DialContext:       (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2: true,
		// Pass the caller's Accept-Encoding through and stream the answer as it comes;
		// transparent decompression would spend the proxy's CPU on every response.
		DisableCompression:    true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: responseHeaderTimeout,
	}
}

// state is what one request carries from ServeHTTP to the transport.
type state struct {
	account  string
	cred     *tokenstore.Credential
	body     []byte         // buffered request body, for replay
	replay   bool           // the body (if any) is fully buffered
	status   int            // status sent to the caller, for metrics
	in       *timedBody     // the caller's body under BodyReadTimeout, if it has one
	reserved int64          // bytes of MaxReplayMemory held for body
	up       idleBody       // the upstream answer's body under UpstreamIdleTimeout
	host     string         // the caller's Host, the default base of rewritten URLs
	pass     ratelimit.Pass // the rate-limit gate's admission (ratelimit.go)
	admitted bool           // pass awaits Spotify's answer
	span     trace.Span     // the server span, when tracing
}

// reset empties s for the next request, keeping the timer of s.up.
func (s *state) reset() {
	t := s.up.timer
	*s = state{}
	s.up.timer = t
}

type stateKey struct{}

// ServeHTTP proxies one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := p.now()
	st := p.states.Get().(*state)
	st.reset()
	if p.tr != nil {
		r = p.tr.start(r, st)
	}
	// Deferred: when Spotify's answer is cut mid-body, the ReverseProxy aborts the
	// handler with a panic (http.ErrAbortHandler), and the request still counts.
	defer p.finish(st, r, start)
	p.serve(w, r, st)
}

// finish observes the request, gives back its replay memory and pools its state.
func (p *Proxy) finish(st *state, r *http.Request, start time.Time) {
	if st.status == 0 && r.Context().Err() != nil {
		st.status = 499 // the caller went away
	}
	// With tracing, the duration carries the sampled span's trace id as an exemplar.
	p.m.ObserveRequestTrace(r.Method, st.status, p.now().Sub(start), p.tr.end(st))
	if st.reserved != 0 {
		p.replayHeld.Add(-st.reserved)
	}
	st.up.pending.Wait()
	st.reset()
	p.states.Put(st)
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, st *state) {
	if hasBody(r) && p.cfg.BodyReadTimeout > 0 {
		st.in = newTimedBody(w, r.Body, p.cfg.BodyReadTimeout)
		r.Body = st.in
	}
	if status := p.refuse(w, r); status != 0 {
		st.status = status
		return
	}
	if p.proxyAuth != nil {
		got := r.Header[headerPAuth]
		if len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), p.proxyAuth) != 1 {
			w.Header().Set("Proxy-Authenticate", `Bearer realm="spotify-token-proxy"`)
			st.status = p.fail(w, http.StatusProxyAuthRequired, "PROXY_UNAUTHENTICATED", "missing or wrong Proxy-Authorization", 0)
			return
		}
	}
	st.account = p.cfg.DefaultAccount
	if v := r.Header[HeaderAccount]; len(v) > 0 {
		if len(v) > 1 || !tokenstore.ValidAccount(v[0]) {
			st.status = p.fail(w, http.StatusBadRequest, "PROXY_BAD_ACCOUNT", "X-Spotify-Account must match ^[A-Za-z0-9._@-]{1,128}$", 0)
			return
		}
		st.account = v[0]
	}
	cred, err := p.token(r.Context(), st)
	if err != nil {
		st.status = p.tokenError(w, r, err)
		return
	}
	st.cred = cred
	if err := p.bufferBody(r, st); err != nil {
		if errors.Is(err, errBodyTimeout) {
			st.status = p.bodyTimedOut(w)
			return
		}
		st.status = p.fail(w, http.StatusBadRequest, "PROXY_BAD_REQUEST", "reading the request body failed", 0)
		return
	}
	if !p.admitRateLimit(w, r, st) {
		return
	}
	defer p.rateLimitDone(st)
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
}

func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.cfg.Upstream)
	// Before Rewrite runs, the ReverseProxy drops the query parameters it cannot
	// parse (q=rock;pop, q=100%); Spotify gets the caller's query byte for byte.
	if q := p.cfg.Upstream.RawQuery; q == "" || pr.In.URL.RawQuery == "" {
		pr.Out.URL.RawQuery = q + pr.In.URL.RawQuery
	} else {
		pr.Out.URL.RawQuery = q + "&" + pr.In.URL.RawQuery
	}
	h := pr.Out.Header
	delete(h, headerPAuth)
	delete(h, HeaderAccount)
	st, _ := pr.Out.Context().Value(stateKey{}).(*state)
	if st == nil {
		delete(h, headerAuth)
		return
	}
	h[headerAuth] = st.cred.AuthorizationHeader()
	st.host = pr.In.Host
	if st.replay && st.body != nil {
		setBody(pr.Out, st.body)
	}
}

func setBody(req *http.Request, body []byte) {
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
}

func (p *Proxy) modifyResponse(resp *http.Response) error {
	if resp.StatusCode == http.StatusTooManyRequests {
		p.m.RateLimitedInc()
	}
	st, _ := resp.Request.Context().Value(stateKey{}).(*state)
	if st != nil {
		st.status = resp.StatusCode
	}
	p.observeRateLimit(resp, st)
	p.tr.response(resp, st)
	if p.urls != nil && st != nil {
		p.urls.response(resp, st.host)
	}
	return nil
}
