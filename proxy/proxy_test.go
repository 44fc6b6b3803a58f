package proxy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/testclock"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// fakeTokens hands out "tok-<account>-<n>"; Invalidate moves to n+1 when the used
// token is the current one.
type fakeTokens struct {
	mu          sync.Mutex
	gen         map[string]int
	err         error
	invalidates atomic.Int64
	tokenCalls  atomic.Int64
	invErr      error
	rejectedAt  time.Time // as passed to the last Invalidate
}

func (f *fakeTokens) cred(account string) *tokenstore.Credential {
	if f.gen == nil {
		f.gen = map[string]int{}
	}
	tok := fmt.Sprintf("tok-%s-%d", account, f.gen[account])
	return tokenstore.NewCredential(tok, time.Now().Add(time.Hour), "")
}

func (f *fakeTokens) Token(_ context.Context, account string) (*tokenstore.Credential, error) {
	f.tokenCalls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return f.cred(account), nil
}

func (f *fakeTokens) Invalidate(_ context.Context, account, used string, rejectedAt time.Time) (*tokenstore.Credential, error) {
	f.invalidates.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rejectedAt = rejectedAt
	if f.invErr != nil {
		return nil, f.invErr
	}
	if f.cred(account).AccessToken == used {
		f.gen[account]++
	}
	return f.cred(account), nil
}

// upstream records what it received and answers with handler.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
	body [][]byte
}

func newUpstream(t *testing.T, h func(w http.ResponseWriter, r *http.Request, body []byte), configure ...func(*http.Server)) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, r)
		u.body = append(u.body, b)
		u.mu.Unlock()
		h(w, r, b)
	}))
	for _, f := range configure {
		f(u.Config)
	}
	u.Start()
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.seen...)
}

type env struct {
	tokens *fakeTokens
	m      *metrics.Metrics
	p      *proxy.Proxy
	proxy  *httptest.Server
}

func newProxy(t *testing.T, up *upstream, mutate ...func(*proxy.Config)) *env {
	t.Helper()
	u, _ := url.Parse(up.URL)
	e := &env{tokens: &fakeTokens{}, m: metrics.New(prometheus.NewRegistry())}
	cfg := proxy.Config{Upstream: u, Tokens: e.tokens, DefaultAccount: "default", MaxReplayBody: 1 << 20, Metrics: e.m}
	for _, f := range mutate {
		f(&cfg)
	}
	p, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	e.proxy = httptest.NewServer(p)
	t.Cleanup(e.proxy.Close)
	return e
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func newReq(t *testing.T, method, u string, body io.Reader) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type spotifyError struct {
	Error struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
	} `json:"error"`
}

func decodeErr(t *testing.T, b []byte) spotifyError {
	t.Helper()
	var e spotifyError
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("not Spotify's error shape: %q", b)
	}
	return e
}

func TestInjectsTokenAndStripsCallerHeaders(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("X-Upstream", "yes")
		w.WriteHeader(201)
		fmt.Fprintf(w, "%s %s?%s %s", r.Method, r.URL.Path, r.URL.RawQuery, body)
	})
	e := newProxy(t, up)
	req := newReq(t, http.MethodPost, e.proxy.URL+"/v1/me/player/queue?uri=spotify%3Atrack%3A1&x=2", strings.NewReader(`{"a":1}`))
	req.Header.Set("Authorization", "Bearer caller-secret")
	req.Header.Set("Proxy-Authorization", "Bearer whatever")
	req.Header.Set("X-Spotify-Account", "alice")
	req.Header.Set("X-Custom", "kept")
	resp, b := do(t, req)
	if resp.StatusCode != 201 || resp.Header.Get("X-Upstream") != "yes" {
		t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
	}
	if want := `POST /v1/me/player/queue?uri=spotify%3Atrack%3A1&x=2 {"a":1}`; string(b) != want {
		t.Fatalf("body %q, want %q", b, want)
	}
	got := up.requests()[0]
	if a := got.Header.Values("Authorization"); len(a) != 1 || a[0] != "Bearer tok-alice-0" {
		t.Fatalf("Authorization = %v", a)
	}
	for _, h := range []string{"Proxy-Authorization", "X-Spotify-Account"} {
		if got.Header.Get(h) != "" {
			t.Fatalf("%s reached upstream", h)
		}
	}
	if got.Header.Get("X-Custom") != "kept" {
		t.Fatal("caller header lost")
	}
	if got.Host != strings.TrimPrefix(up.URL, "http://") {
		t.Fatalf("Host = %q, want the upstream's", got.Host)
	}
}

func TestDefaultAccountAndBadAccount(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {})
	e := newProxy(t, up)
	resp, _ := do(t, newReq(t, "GET", e.proxy.URL+"/v1/me", nil))
	if resp.StatusCode != 200 || up.requests()[0].Header.Get("Authorization") != "Bearer tok-default-0" {
		t.Fatalf("default account not used")
	}
	req := newReq(t, "GET", e.proxy.URL+"/v1/me", nil)
	req.Header.Set("X-Spotify-Account", "bad account!")
	resp, b := do(t, req)
	if resp.StatusCode != 400 || decodeErr(t, b).Error.Reason != "PROXY_BAD_ACCOUNT" {
		t.Fatalf("bad account: %d %s", resp.StatusCode, b)
	}
	if len(up.requests()) != 1 {
		t.Fatal("a bad request reached upstream")
	}
}

func TestStreamsLargeResponse(t *testing.T) {
	const size = 8 << 20
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		for sent := 0; sent < size; sent += len(chunk) {
			w.Write(chunk)
		}
	})
	e := newProxy(t, up)
	resp, err := http.Get(e.proxy.URL + "/v1/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil || n != size {
		t.Fatalf("got %d bytes, err %v", n, err)
	}
	want := sha256.New()
	for sent := 0; sent < size; sent += len(chunk) {
		want.Write(chunk)
	}
	if !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Fatal("body differs")
	}
}

func TestPassesThroughNon2xx(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		body   string
	}{
		{"forbidden", 403, nil, `{"error":{"status":403,"message":"Player command failed: Premium required","reason":"PREMIUM_REQUIRED"}}`},
		{"not found", 404, nil, `{"error":{"status":404,"message":"Not found."}}`},
		{"rate limited", 429, map[string]string{"Retry-After": "7"}, `{"error":{"status":429,"message":"API rate limit exceeded"}}`},
		{"bad gateway", 502, nil, `{"error":{"status":502,"message":"Bad gateway."}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			e := newProxy(t, up)
			resp, b := do(t, newReq(t, "GET", e.proxy.URL+"/v1/x", nil))
			if resp.StatusCode != tc.status || string(b) != tc.body {
				t.Fatalf("got %d %q", resp.StatusCode, b)
			}
			for k, v := range tc.header {
				if resp.Header.Get(k) != v {
					t.Fatalf("%s = %q", k, resp.Header.Get(k))
				}
			}
			if tc.status == 429 && testutil.ToFloat64(e.m.RateLimited) != 1 {
				t.Fatal("429 not counted")
			}
			if e.tokens.invalidates.Load() != 0 {
				t.Fatal("non-401 caused a token invalidation")
			}
		})
	}
}

// expiring answers 401 to every token it has been told is dead.
func expiring(dead *sync.Map) func(w http.ResponseWriter, r *http.Request, body []byte) {
	return func(w http.ResponseWriter, r *http.Request, body []byte) {
		if _, ok := dead.Load(r.Header.Get("Authorization")); ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="spotify", error="invalid_token"`)
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"status":401,"message":"Missing/invalid/expired access token"}}`)
			return
		}
		sum := sha256.Sum256(body)
		w.Header().Set("X-Body-Sha256", hex.EncodeToString(sum[:]))
		w.Header().Set("X-Content-Type", r.Header.Get("Content-Type"))
		w.WriteHeader(202)
	}
}

func TestRetryAfter401ReplaysBody(t *testing.T) {
	img := bytes.Repeat([]byte("/9j/4AAQSkZJRgABAQ"), 200<<10/18) // ~200 KB base64 JPEG text
	for _, tc := range []struct {
		name, ctype string
		body        []byte
		chunked     bool
	}{
		{"json", "application/json", []byte(`{"uris":["spotify:track:4iV5W9uYEdYUVa79Axb7Rh"]}`), false},
		{"jpeg 200KB", "image/jpeg", img, false},
		{"jpeg chunked", "image/jpeg", img, true},
		{"no body", "", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dead sync.Map
			dead.Store("Bearer tok-default-0", true)
			up := newUpstream(t, expiring(&dead))
			e := newProxy(t, up)
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(bytes.NewReader(tc.body)) // unknown length: chunked
			}
			if tc.body == nil {
				body = nil
			}
			req := newReq(t, "PUT", e.proxy.URL+"/v1/playlists/p1/images", body)
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, _ := do(t, req)
			if resp.StatusCode != 202 {
				t.Fatalf("status %d, want the retried answer 202", resp.StatusCode)
			}
			sum := sha256.Sum256(tc.body)
			if resp.Header.Get("X-Body-Sha256") != hex.EncodeToString(sum[:]) || resp.Header.Get("X-Content-Type") != tc.ctype {
				t.Fatal("replayed body or content type differs")
			}
			reqs := up.requests()
			if len(reqs) != 2 || reqs[1].Header.Get("Authorization") != "Bearer tok-default-1" {
				t.Fatalf("want 2 upstream requests, the second with the new token; got %d", len(reqs))
			}
			if testutil.ToFloat64(e.m.UpstreamRetries.WithLabelValues("unauthorized", "success")) != 1 {
				t.Fatal("retry not counted")
			}
		})
	}
}

// The token source is told when the 401 arrived, not when the request was sent: a
// token refreshed while the request was in flight may have died with the one it used.
func TestInvalidateGetsTheTimeThe401Arrived(t *testing.T) {
	clk := testclock.New(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	var dead sync.Map
	dead.Store("Bearer tok-default-0", true)
	answer := expiring(&dead)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		clk.Add(3 * time.Second) // Spotify takes its time
		answer(w, r, body)
	})
	e := newProxy(t, up, func(c *proxy.Config) { c.Now = clk.Now })
	sent := clk.Now()
	resp, _ := do(t, newReq(t, "GET", e.proxy.URL+"/v1/me", nil))
	if resp.StatusCode != 202 {
		t.Fatalf("status %d, want the retried answer", resp.StatusCode)
	}
	e.tokens.mu.Lock()
	got := e.tokens.rejectedAt
	e.tokens.mu.Unlock()
	if want := sent.Add(3 * time.Second); !got.Equal(want) {
		t.Fatalf("Invalidate got %s, want the 401's arrival %s (sent %s)", got, want, sent)
	}
}

func TestBodyAboveLimitPasses401Through(t *testing.T) {
	var dead sync.Map
	dead.Store("Bearer tok-default-0", true)
	up := newUpstream(t, expiring(&dead))
	e := newProxy(t, up, func(c *proxy.Config) { c.MaxReplayBody = 1024 })
	for _, chunked := range []bool{false, true} {
		body := bytes.Repeat([]byte("x"), 4096)
		var r io.Reader = bytes.NewReader(body)
		if chunked {
			r = io.MultiReader(r)
		}
		resp, b := do(t, newReq(t, "PUT", e.proxy.URL+"/v1/playlists/p/images", r))
		if resp.StatusCode != 401 || !strings.Contains(string(b), "Missing/invalid/expired") {
			t.Fatalf("chunked=%v: got %d %q, want Spotify's 401", chunked, resp.StatusCode, b)
		}
	}
	if e.tokens.invalidates.Load() != 0 {
		t.Fatal("unreplayable request was retried")
	}
	if n := len(up.body[1]); n != 4096 {
		t.Fatalf("streamed chunked body arrived with %d bytes", n)
	}
}

func TestSecond401PassesThrough(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.WriteHeader(401)
		io.WriteString(w, `{"error":{"status":401,"message":"Invalid access token"}}`)
	})
	e := newProxy(t, up)
	resp, b := do(t, newReq(t, "GET", e.proxy.URL+"/v1/me", nil))
	if resp.StatusCode != 401 || !strings.Contains(string(b), "Invalid access token") {
		t.Fatalf("got %d %q", resp.StatusCode, b)
	}
	if n := len(up.requests()); n != 2 {
		t.Fatalf("upstream requests = %d, want 2 (one retry, no loop)", n)
	}
	if testutil.ToFloat64(e.m.UpstreamRetries.WithLabelValues("unauthorized", "failure")) != 1 {
		t.Fatal("failed retry not counted")
	}
}

func TestTokenErrorsAreSpotifyShaped(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		reason string
	}{
		{tokenstore.ErrNoToken, 401, "PROXY_NO_TOKEN"},
		{tokenstore.ErrReauthRequired, 401, "PROXY_REAUTH_REQUIRED"},
		{&tokenstore.UnavailableError{RetryAfter: 7 * time.Second, Err: errors.New("503")}, 503, "PROXY_TOKEN_UNAVAILABLE"},
	} {
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {})
		e := newProxy(t, up)
		e.tokens.err = tc.err
		resp, b := do(t, newReq(t, "GET", e.proxy.URL+"/v1/me", nil))
		se := decodeErr(t, b)
		if resp.StatusCode != tc.status || se.Error.Status != tc.status || se.Error.Reason != tc.reason || se.Error.Message == "" {
			t.Fatalf("%v: got %d %s", tc.err, resp.StatusCode, b)
		}
		if tc.status == 503 && resp.Header.Get("Retry-After") != "7" {
			t.Fatalf("Retry-After = %q", resp.Header.Get("Retry-After"))
		}
		if len(up.requests()) != 0 {
			t.Fatal("request reached upstream without a token")
		}
	}
}

func TestReauthDuringRetry(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { w.WriteHeader(401) })
	e := newProxy(t, up)
	e.tokens.invErr = tokenstore.ErrReauthRequired
	resp, b := do(t, newReq(t, "GET", e.proxy.URL+"/v1/me", nil))
	if resp.StatusCode != 401 || decodeErr(t, b).Error.Reason != "PROXY_REAUTH_REQUIRED" {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
}

func TestUpstreamUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	u, _ := url.Parse("http://" + addr)
	p, _ := proxy.New(proxy.Config{Upstream: u, Tokens: &fakeTokens{}})
	srv := httptest.NewServer(p)
	defer srv.Close()
	resp, b := do(t, newReq(t, "GET", srv.URL+"/v1/me", nil))
	if resp.StatusCode != 502 || decodeErr(t, b).Error.Reason != "PROXY_UPSTREAM_UNREACHABLE" {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
}

func TestProxyAuth(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {})
	e := newProxy(t, up, func(c *proxy.Config) { c.ProxyAuthToken = "s3cret-proxy-token" })
	for _, tc := range []struct {
		header string
		status int
	}{{"", 407}, {"Bearer wrong", 407}, {"Basic s3cret-proxy-token", 407}, {"Bearer s3cret-proxy-token", 200}} {
		req := newReq(t, "GET", e.proxy.URL+"/v1/me", nil)
		if tc.header != "" {
			req.Header.Set("Proxy-Authorization", tc.header)
		}
		resp, b := do(t, req)
		if resp.StatusCode != tc.status {
			t.Fatalf("%q: status %d", tc.header, resp.StatusCode)
		}
		if tc.status == 407 && (decodeErr(t, b).Error.Reason != "PROXY_UNAUTHENTICATED" || resp.Header.Get("Proxy-Authenticate") == "") {
			t.Fatalf("%q: %s", tc.header, b)
		}
		if strings.Contains(string(b), "s3cret") {
			t.Fatal("secret in error body")
		}
	}
	if n := len(up.requests()); n != 1 {
		t.Fatalf("upstream requests = %d, want 1", n)
	}
	if up.requests()[0].Header.Get("Proxy-Authorization") != "" {
		t.Fatal("Proxy-Authorization reached upstream")
	}
}

func TestRefusesConnectAndForeignTargets(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {})
	e := newProxy(t, up)
	for _, tc := range []struct {
		raw    string
		status int
	}{
		{"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", 405},
		{"GET http://evil.example/v1/me HTTP/1.1\r\nHost: evil.example\r\n\r\n", 400},
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.proxy.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, tc.raw)
		buf := make([]byte, 512)
		n, _ := conn.Read(buf)
		conn.Close()
		if !strings.HasPrefix(string(buf[:n]), fmt.Sprintf("HTTP/1.1 %d", tc.status)) {
			t.Fatalf("%q: got %q", tc.raw[:20], buf[:n])
		}
	}
	if len(up.requests()) != 0 {
		t.Fatal("refused request reached upstream")
	}
}

func TestUpstreamConnectionsAreReused(t *testing.T) {
	var conns atomic.Int64
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { io.WriteString(w, "ok") },
		func(s *http.Server) {
			s.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
		})
	e := newProxy(t, up)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const workers, each = 32, 50
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				resp, err := client.Get(e.proxy.URL + "/v1/x")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if n := conns.Load(); n > 2*workers {
		t.Fatalf("%d upstream connections for %d requests: the pool is not reused", n, workers*each)
	}
	t.Logf("%d upstream connections for %d requests", conns.Load(), workers*each)
}
