package proxy_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
)

// rawConn opens a connection to the proxy for requests net/http would not send as
// written. The deadline is a safety net: a test that needs it has already failed.
func rawConn(t *testing.T, e *env) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.proxy.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(15 * time.Second))
	return c, bufio.NewReader(c)
}

func readResponse(t *testing.T, br *bufio.Reader) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp, b
}

// closedByPeer reports whether the server closed the connection (EOF), as opposed to
// the safety deadline passing.
func closedByPeer(br *bufio.Reader) bool {
	_, err := br.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// Item 4: ReverseProxy drops what url.ParseQuery rejects; the proxy must not.
func TestQueryReachesUpstreamByteForByte(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {})
	e := newProxy(t, up)
	for _, q := range []string{
		"q=rock;pop&type=track",
		"q=100%&type=track",
		"q=a%zz&type=artist",
		"q=%E2%9C%93&market=from_token",
		"ids=a,b,c&ids=d&empty=&flag",
		"q=artist:%22Miles+Davis%22%20year:1959&type=album&limit=50&offset=0",
	} {
		req := newReq(t, "GET", e.proxy.URL+"/v1/search", nil)
		req.URL.RawQuery = q
		resp, _ := do(t, req)
		if resp.StatusCode != 200 {
			t.Fatalf("%q: status %d", q, resp.StatusCode)
		}
		reqs := up.requests()
		if got := reqs[len(reqs)-1].URL.RawQuery; got != q {
			t.Errorf("query %q reached Spotify as %q", q, got)
		}
	}
}

// Item 3: only the Web API's methods are forwarded; the rest never see a token.
func TestOnlyWebAPIMethodsAreForwarded(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {})
	e := newProxy(t, up)
	for _, m := range []string{"TRACE", "PRI", "PROPFIND", "get", "TRACK"} {
		resp, b := do(t, newReq(t, m, e.proxy.URL+"/v1/me", nil))
		if resp.StatusCode != 405 {
			t.Fatalf("%s: status %d, want 405", m, resp.StatusCode)
		}
		if se := decodeErr(t, b); se.Error.Status != 405 || se.Error.Reason != "PROXY_METHOD_NOT_ALLOWED" {
			t.Fatalf("%s: got %d %s", m, resp.StatusCode, b)
		}
		if got := resp.Header.Get("Allow"); got != "GET, HEAD, POST, PUT, PATCH, DELETE" {
			t.Fatalf("%s: Allow = %q", m, got)
		}
	}
	c, br := rawConn(t, e)
	io.WriteString(c, "CONNECT api.spotify.com:443 HTTP/1.1\r\nHost: api.spotify.com:443\r\n\r\n")
	if resp, b := readResponse(t, br); resp.StatusCode != 405 || decodeErr(t, b).Error.Reason != "PROXY_METHOD_NOT_ALLOWED" {
		t.Fatalf("CONNECT: %d %s", resp.StatusCode, b)
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("%d refused requests reached Spotify", n)
	}
	if n := e.tokens.tokenCalls.Load(); n != 0 {
		t.Fatalf("refused requests asked for a token %d times", n)
	}
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} {
		if resp, _ := do(t, newReq(t, m, e.proxy.URL+"/v1/me", nil)); resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", m, resp.StatusCode)
		}
	}
	if n := len(up.requests()); n != 6 {
		t.Fatalf("%d of 6 Web API methods reached Spotify", n)
	}
}

// Item 2: a browser cannot drive the proxy, whatever page it is on.
func TestRefusesBrowserRequests(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {})
	e := newProxy(t, up)
	for _, tc := range []struct {
		name, method string
		header       map[string]string
		status       int
	}{
		{"cross-site POST", "POST", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"Origin alone", "POST", map[string]string{"Origin": "https://evil.example"}, 403},
		{"opaque Origin", "POST", map[string]string{"Origin": "null"}, 403},
		{"cross-site GET", "GET", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}, 403},
		{"same-site", "GET", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"same-origin (DNS rebinding)", "GET", map[string]string{"Sec-Fetch-Site": "same-origin"}, 403},
		{"preflight", "OPTIONS", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, 403},
		{"OPTIONS without Origin", "OPTIONS", nil, 403},
		{"user navigation", "GET", map[string]string{"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"}, 200},
		{"Node fetch", "POST", map[string]string{"Sec-Fetch-Mode": "cors", "User-Agent": "node"}, 200},
		{"server-side client", "POST", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, calls := len(up.requests()), e.tokens.tokenCalls.Load()
			req := newReq(t, tc.method, e.proxy.URL+"/v1/me/player/next", nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, b := do(t, req)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			forwarded := len(up.requests()) - before
			if tc.status == 200 {
				if forwarded != 1 {
					t.Fatal("not forwarded")
				}
				return
			}
			if se := decodeErr(t, b); se.Error.Reason != "PROXY_FORBIDDEN_ORIGIN" || se.Error.Status != 403 {
				t.Fatalf("got %s", b)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Fatal("a refusal carries CORS headers")
			}
			if forwarded != 0 || e.tokens.tokenCalls.Load() != calls {
				t.Fatal("a browser request reached Spotify or the token source")
			}
		})
	}
	if got := testutil.ToFloat64(e.m.Requests.WithLabelValues("GET", "403")); got != 3 {
		t.Fatalf("requests_total{GET,403} = %v, want 3", got)
	}
}

// Item 2: with ALLOWED_HOSTS, DNS rebinding (a foreign name pointing at the proxy) fails.
func TestAllowedHosts(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {})
	e := newProxy(t, up, func(c *proxy.Config) { c.AllowedHosts = []string{"localhost", "127.0.0.1", "::1", "proxy.internal"} })
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"localhost", true},
		{"LocalHost:8080", true},
		{"127.0.0.1:8080", true},
		{"[::1]:8080", true},
		{"[::1]", true},
		{"proxy.internal.", true},
		{"evil.example", false},
		{"evil.example:8080", false},
		{"localhost.evil.example", false},
		{"127.0.0.2", false},
		{"[::2]:8080", false},
	} {
		req := newReq(t, "GET", e.proxy.URL+"/v1/me", nil)
		req.Host = tc.host
		resp, b := do(t, req)
		if tc.ok {
			if resp.StatusCode != 200 {
				t.Errorf("Host %q: status %d %s", tc.host, resp.StatusCode, b)
			}
			continue
		}
		if resp.StatusCode != 421 {
			t.Errorf("Host %q: status %d, want 421", tc.host, resp.StatusCode)
			continue
		}
		if se := decodeErr(t, b); se.Error.Reason != "PROXY_FORBIDDEN_HOST" || !strings.Contains(se.Error.Message, "ALLOWED_HOSTS") {
			t.Errorf("Host %q: got %d %s", tc.host, resp.StatusCode, b)
		}
	}
	if n := len(up.requests()); n != 6 {
		t.Fatalf("%d requests reached Spotify, want the 6 allowed", n)
	}

	// An absolute-form target naming the upstream (the proxy as an HTTP proxy)
	// carries the upstream's name: it is not a rebinding.
	c, br := rawConn(t, e)
	u, _ := url.Parse(up.URL)
	io.WriteString(c, "GET "+up.URL+"/v1/me HTTP/1.1\r\nHost: "+u.Host+"\r\n\r\n")
	if resp, b := readResponse(t, br); resp.StatusCode != 200 {
		t.Fatalf("absolute-form target for the upstream: %d %s", resp.StatusCode, b)
	}

	// Without a list, any Host.
	e2 := newProxy(t, up)
	req := newReq(t, "GET", e2.proxy.URL+"/v1/me", nil)
	req.Host = "evil.example"
	if resp, _ := do(t, req); resp.StatusCode != 200 {
		t.Fatalf("nil AllowedHosts: status %d", resp.StatusCode)
	}
}

// Item 1: an upload that stops arriving ends with 408 and a closed connection,
// whether it is being buffered for replay or streamed.
func TestStalledBodyEndsWith408(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name, head, sent string
		maxReplay        int64
	}{
		{"no byte of the body", "Content-Length: 100\r\n", "", 0},
		{"stalled after 10 bytes", "Content-Length: 100\r\n", "0123456789", 0},
		{"chunked, stalled", "Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n", 0},
		{"streamed (above MaxReplayBody), stalled", "Content-Length: 100\r\n", strings.Repeat("s", 40), 16},
		{"refused, body never read", "Content-Length: 100\r\nOrigin: https://evil.example\r\n", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {})
			e := newProxy(t, up, func(c *proxy.Config) {
				c.BodyReadTimeout = timeout
				if tc.maxReplay > 0 {
					c.MaxReplayBody = tc.maxReplay
				}
			})
			c, br := rawConn(t, e)
			start := time.Now()
			io.WriteString(c, "POST /v1/playlists/p/tracks HTTP/1.1\r\nHost: localhost\r\n"+tc.head+"\r\n"+tc.sent)
			resp, b := readResponse(t, br)
			se := decodeErr(t, b)
			if strings.HasPrefix(tc.name, "refused") {
				if resp.StatusCode != 403 || se.Error.Reason != "PROXY_FORBIDDEN_ORIGIN" {
					t.Fatalf("got %d %s", resp.StatusCode, b)
				}
			} else {
				if resp.StatusCode != 408 || se.Error.Status != 408 || se.Error.Reason != "PROXY_BODY_TIMEOUT" {
					t.Fatalf("got %d %s", resp.StatusCode, b)
				}
				if el := time.Since(start); el < timeout {
					t.Fatalf("answered after %s, before the timeout", el)
				}
			}
			if !closedByPeer(br) {
				t.Fatal("the connection of a stalled upload stays open")
			}
			if strings.HasPrefix(tc.name, "streamed") {
				return // Spotify saw the start of the stream
			}
			if n := len(up.requests()); n != 0 {
				t.Fatalf("%d requests reached Spotify", n)
			}
		})
	}
}

// Item 1: the deadline is idle-based: an upload slower than the timeout in total, but
// never silent that long, arrives whole.
func TestSlowSteadyUploadIsNotCut(t *testing.T) {
	const timeout, gap, chunks = 600 * time.Millisecond, 60 * time.Millisecond, 16 // 16 × 60 ms ≈ 1.6 × timeout
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) { w.Write(body) })
	e := newProxy(t, up, func(c *proxy.Config) { c.BodyReadTimeout = timeout })
	pr, pw := io.Pipe()
	go func() {
		for i := range chunks {
			time.Sleep(gap) // the upload's pace, not synchronisation
			pw.Write([]byte{'a' + byte(i)})
		}
		pw.Close()
	}()
	req := newReq(t, "PUT", e.proxy.URL+"/v1/playlists/p/images", pr)
	req.ContentLength = chunks
	resp, b := do(t, req)
	if resp.StatusCode != 200 || string(b) != "abcdefghijklmnop" {
		t.Fatalf("got %d %q", resp.StatusCode, b)
	}
}

// Item 1: the replay buffer holds what has arrived, not what Content-Length announces.
func TestReplayBufferGrowsWithWhatArrived(t *testing.T) {
	u, _ := url.Parse("http://upstream")
	p, err := proxy.New(proxy.Config{Upstream: u, Tokens: &fakeTokens{}, Transport: staticRT{benchBody}, MaxReplayBody: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	req := httptest.NewRequest("PUT", "/v1/playlists/p/images", pr)
	req.ContentLength = 1 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	done := make(chan int)
	go func() {
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		done <- w.Code
	}()
	pw.Write([]byte("0123456789")) // returns once the proxy has read it into its buffer
	runtime.ReadMemStats(&after)
	pw.Close()
	if code := <-done; code != 200 {
		t.Fatalf("status %d", code)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<10 {
		t.Fatalf("%d KiB allocated for 10 bytes of a body announced as 1 MiB", grew>>10)
	}
}

// Item 1: past MaxReplayMemory, bodies stream (their 401 passes through) instead of
// being buffered; a request that ends gives its memory back.
func TestReplayMemoryCap(t *testing.T) {
	var dead sync.Map
	dead.Store("Bearer tok-default-0", true)
	up := newUpstream(t, expiring(&dead))
	e := newProxy(t, up, func(c *proxy.Config) { c.MaxReplayMemory = 64 << 10 })

	// One upload of 60 KiB holds 60 KiB + 1 byte of replay buffer once 40 KiB have
	// arrived (the buffer doubles from 4 KiB up to Content-Length + 1), which leaves
	// less than the 4 KiB another body starts with.
	pr, pw := io.Pipe()
	holder := httptest.NewRequest("PUT", "/v1/playlists/p/images", pr)
	holder.ContentLength = 60 << 10
	done := make(chan *httptest.ResponseRecorder)
	go func() {
		w := httptest.NewRecorder()
		e.p.ServeHTTP(w, holder)
		done <- w
	}()
	body := bytes.Repeat([]byte("x"), 60<<10)
	pw.Write(body[:40<<10]) // returns once the proxy has read it

	put := func() int {
		resp, _ := do(t, newReq(t, "PUT", e.proxy.URL+"/v1/playlists/p/images", bytes.NewReader(body[:10<<10])))
		return resp.StatusCode
	}
	if code := put(); code != 401 {
		t.Fatalf("with the replay memory taken: status %d, want Spotify's 401 passed through", code)
	}
	if n := e.tokens.invalidates.Load(); n != 0 {
		t.Fatalf("a streamed body was retried (%d invalidations)", n)
	}
	up.mu.Lock()
	got := len(up.body[len(up.body)-1])
	up.mu.Unlock()
	if got != 10<<10 {
		t.Fatalf("streamed body arrived with %d bytes", got)
	}

	pw.Write(body[40<<10:])
	pw.Close()
	if w := <-done; w.Code != 202 {
		t.Fatalf("the holding upload: status %d, want its retried answer", w.Code)
	}
	dead.Store("Bearer tok-default-1", true)
	if code := put(); code != 202 {
		t.Fatalf("after the holder ended: status %d, want the retried answer (memory given back)", code)
	}
}

// Item 1: an answer from Spotify that stops mid-body is cut after the idle timeout and
// the caller's connection closes; one that keeps trickling is not cut.
func TestUpstreamIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	release := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Path == "/v1/steady" {
			for i := range 10 {
				w.Write([]byte{'0' + byte(i)})
				w.(http.Flusher).Flush()
				time.Sleep(idle / 5) // the answer's pace, not synchronisation
			}
			return
		}
		io.WriteString(w, `{"items":[`) // no Content-Length: the proxy passes each write on
		w.(http.Flusher).Flush()
		<-release
	})
	t.Cleanup(func() { close(release) }) // runs before the upstream closes
	e := newProxy(t, up, func(c *proxy.Config) { c.UpstreamIdleTimeout = idle })

	client := &http.Client{Timeout: 15 * time.Second} // a safety net only
	start := time.Now()
	resp, err := client.Get(e.proxy.URL + "/v1/stalls")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	el := time.Since(start)
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("after %s: read %q, err %v; want the connection closed by the proxy", el, b, err)
	}
	if string(b) != `{"items":[` || el < idle {
		t.Fatalf("after %s: read %q", el, b)
	}
	if got := testutil.ToFloat64(e.m.Requests.WithLabelValues("GET", "200")); got != 1 {
		t.Fatalf("the cut request was not counted (requests_total{GET,200} = %v)", got)
	}

	resp, b = do(t, newReq(t, "GET", e.proxy.URL+"/v1/steady", nil))
	if resp.StatusCode != 200 || string(b) != "0123456789" {
		t.Fatalf("steady answer: %d %q", resp.StatusCode, b)
	}
}
