package proxy

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// TokenSource hands out access tokens. *tokenstore.Source implements it.
// Both methods are called concurrently from many requests.
type TokenSource interface {
	// Token returns a valid token for account.
	Token(ctx context.Context, account string) (*tokenstore.Credential, error)
	// Invalidate reports that Spotify's 401 to usedToken arrived at rejectedAt, and
	// returns a replacement (one whose refresh began after rejectedAt, or a new one).
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
	// ProxyAuthToken, when set, must arrive as "Proxy-Authorization: Bearer <it>".
	ProxyAuthToken string
	// Transport to Spotify; default NewTransport(30s).
	Transport http.RoundTripper
	Metrics   *metrics.Metrics
	Logger    *slog.Logger
	Now       func() time.Time
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
	if cfg.Transport == nil {
		cfg.Transport = NewTransport(30 * time.Second)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Proxy{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, now: cfg.Now}
	if cfg.ProxyAuthToken != "" {
		p.proxyAuth = []byte("Bearer " + cfg.ProxyAuthToken)
	}
	p.states.New = func() any { return new(state) }
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      &retrier{p: p, base: cfg.Transport},
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
	account string
	cred    *tokenstore.Credential
	body    []byte // buffered request body, for replay
	replay  bool   // the body (if any) is fully buffered
	status  int    // status sent to the caller, for metrics
}

type stateKey struct{}

// ServeHTTP proxies one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := p.now()
	st := p.states.Get().(*state)
	*st = state{}
	p.serve(w, r, st)
	if p.m != nil {
		status := st.status
		if status == 0 && r.Context().Err() != nil {
			status = 499 // the caller went away
		}
		p.m.ObserveRequest(r.Method, status, p.now().Sub(start))
	}
	*st = state{}
	p.states.Put(st)
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, st *state) {
	if r.Method == http.MethodConnect {
		st.status = p.fail(w, http.StatusMethodNotAllowed, "PROXY_METHOD_NOT_ALLOWED", "CONNECT is not supported: this proxy only forwards to the Spotify Web API", 0)
		return
	}
	if r.URL.Host != "" && r.URL.Host != p.cfg.Upstream.Host {
		st.status = p.fail(w, http.StatusBadRequest, "PROXY_FORBIDDEN_TARGET", "absolute-form request targets for other hosts are refused", 0)
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
	cred, err := p.cfg.Tokens.Token(r.Context(), st.account)
	if err != nil {
		st.status = p.tokenError(w, r, err)
		return
	}
	st.cred = cred
	if err := p.bufferBody(r, st); err != nil {
		st.status = p.fail(w, http.StatusBadRequest, "PROXY_BAD_REQUEST", "reading the request body failed", 0)
		return
	}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
}

// bufferBody reads bodies up to MaxReplayBody into memory so they can be sent twice.
// A larger body is streamed: the prefix already read is sent first.
func (p *Proxy) bufferBody(r *http.Request, st *state) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		st.replay = true
		return nil
	}
	max := p.cfg.MaxReplayBody
	if r.ContentLength > max {
		return nil // streams; not replayable
	}
	n := r.ContentLength
	if n < 0 {
		n = 4096
	}
	buf := bytes.NewBuffer(make([]byte, 0, n+1))
	_, err := buf.ReadFrom(io.LimitReader(r.Body, max+1))
	if err != nil {
		return err
	}
	if int64(buf.Len()) > max {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf.Bytes()), r.Body), r.Body}
		return nil
	}
	r.Body.Close()
	st.body, st.replay = buf.Bytes(), true
	r.Body = http.NoBody
	return nil
}

func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.cfg.Upstream)
	h := pr.Out.Header
	delete(h, headerPAuth)
	delete(h, HeaderAccount)
	st, _ := pr.Out.Context().Value(stateKey{}).(*state)
	if st == nil {
		delete(h, headerAuth)
		return
	}
	h[headerAuth] = st.cred.AuthorizationHeader()
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
	if st, _ := resp.Request.Context().Value(stateKey{}).(*state); st != nil {
		st.status = resp.StatusCode
	}
	return nil
}

// retrier sends a request and, on a 401, asks for a replacement token and sends it
// once more with the buffered body. The second answer is what the caller gets.
type retrier struct {
	p    *Proxy
	base http.RoundTripper
}

// tokenErr carries a token source failure from the transport to the ErrorHandler.
type tokenErr struct{ err error }

func (e *tokenErr) Error() string { return e.err.Error() }
func (e *tokenErr) Unwrap() error { return e.err }

func (t *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	rejected := t.p.now()
	st, _ := req.Context().Value(stateKey{}).(*state)
	if st == nil || !st.replay {
		return resp, nil // a body too large to replay: the 401 passes through
	}
	cred, err := t.p.cfg.Tokens.Invalidate(req.Context(), st.account, st.cred.AccessToken, rejected)
	if errors.Is(err, tokenstore.ErrRefreshTooSoon) {
		return resp, nil // a 401 storm: Spotify's own 401 passes through, body and all
	}
	// Drain (a little) so the connection can be reused, then close.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
	if err != nil {
		t.p.m.Retry(false)
		return nil, &tokenErr{err}
	}
	st.cred = cred
	retry := req.Clone(req.Context())
	retry.Header[headerAuth] = cred.AuthorizationHeader()
	if st.body != nil {
		setBody(retry, st.body)
	}
	resp, err = t.base.RoundTrip(retry)
	t.p.m.Retry(err == nil && resp.StatusCode != http.StatusUnauthorized)
	return resp, err
}

func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	st, _ := r.Context().Value(stateKey{}).(*state)
	var status int
	var te *tokenErr
	switch {
	case errors.As(err, &te):
		status = p.tokenError(w, r, te.err)
	case r.Context().Err() != nil:
		status = 499 // the caller went away; nothing to answer
	default:
		p.log.Warn("upstream request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		status = p.fail(w, http.StatusBadGateway, "PROXY_UPSTREAM_UNREACHABLE", "the Spotify Web API could not be reached", 0)
	}
	if st != nil {
		st.status = status
	}
}

// tokenError answers a token source failure and returns the status sent.
func (p *Proxy) tokenError(w http.ResponseWriter, r *http.Request, err error) int {
	var ue *tokenstore.UnavailableError
	switch {
	case errors.Is(err, tokenstore.ErrReauthRequired):
		return p.fail(w, http.StatusUnauthorized, "PROXY_REAUTH_REQUIRED", "the account's refresh token was rejected; the user must authorise the app again", 0)
	case errors.Is(err, tokenstore.ErrNoToken):
		return p.fail(w, http.StatusUnauthorized, "PROXY_NO_TOKEN", "no token is stored for this account", 0)
	case errors.As(err, &ue):
		return p.fail(w, http.StatusServiceUnavailable, "PROXY_TOKEN_UNAVAILABLE", "no valid access token can be obtained right now", ue.RetryAfter)
	case r.Context().Err() != nil:
		return 499
	default:
		p.log.Error("token source failed", "error", err)
		return p.fail(w, http.StatusServiceUnavailable, "PROXY_TOKEN_UNAVAILABLE", "no valid access token can be obtained right now", 5*time.Second)
	}
}

// fail writes a proxy-made error and returns its status.
func (p *Proxy) fail(w http.ResponseWriter, status int, reason, message string, retryAfter time.Duration) int {
	WriteError(w, status, reason, message, retryAfter)
	return status
}

// WriteError writes an error in Spotify's shape,
// {"error":{"status":N,"message":"…","reason":"…"}}, with Retry-After when given.
func WriteError(w http.ResponseWriter, status int, reason, message string, retryAfter time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"status":%d,"message":%s,"reason":%s}}`+"\n", status, strconv.Quote(message), strconv.Quote(reason))
}

const copyBufferSize = 32 << 10

// bufferPool lends the 32 KiB copy buffers of the ReverseProxy. It pools array
// pointers, so neither Get nor Put allocates.
type bufferPool struct{ p sync.Pool }

// NewBufferPool returns the pool of 32 KiB copy buffers the proxy gives its
// ReverseProxy (exported for the benchmarks' tuned baseline).
func NewBufferPool() httputil.BufferPool { return newBufferPool() }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}
}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[copyBufferSize]byte)[:] }

func (b *bufferPool) Put(x []byte) {
	if cap(x) >= copyBufferSize {
		b.p.Put((*[copyBufferSize]byte)(x[:copyBufferSize]))
	}
}
