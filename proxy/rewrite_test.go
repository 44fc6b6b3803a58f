package proxy_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
)

// pagingHandler answers like Spotify's GET /v1/me/playlists: absolute URLs of its own
// origin in href/next/previous and items[].href/tracks.href, and URLs of other origins
// (open.spotify.com, i.scdn.co) that must stay as they are.
func pagingHandler(gz bool) func(w http.ResponseWriter, r *http.Request, _ []byte) {
	return func(w http.ResponseWriter, r *http.Request, _ []byte) {
		o := "http://" + r.Host // the upstream's own origin, as Spotify writes it
		body := fmt.Sprintf(`{"href":"%[1]s%[3]s",`+
			`"next":"%[1]s/v1/me/playlists?offset=40&limit=20",`+
			`"previous":"%[1]s/v1/me/playlists?offset=0&limit=20",`+
			`"escaped":"%[2]s\/v1\/me",`+
			`"limit":20,"offset":20,"total":45,"items":[{"id":"p1",`+
			`"href":"%[1]s/v1/playlists/p1","tracks":{"href":"%[1]s/v1/playlists/p1/tracks","total":3},`+
			`"external_urls":{"spotify":"https://open.spotify.com/playlist/p1"},`+
			`"images":[{"url":"https://i.scdn.co/image/ab67616d0000b273","height":640,"width":640}],`+
			`"other":"https://api.spotify.com/v1/playlists/p1","v10":"%[1]s/v10/x"}]}`,
			o, strings.ReplaceAll(o, "/", `\/`), r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if !gz {
			io.WriteString(w, body)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		io.WriteString(zw, body)
		zw.Close()
	}
}

type paging struct {
	Href, Next, Previous, Escaped string
	Items                         []struct {
		Href   string
		Tracks struct{ Href string }
		Other  string
		V10    string
		Images []struct{ URL string }
		Ext    map[string]string `json:"external_urls"`
	}
}

func decodePaging(t *testing.T, b []byte) paging {
	t.Helper()
	var p paging
	if err := json.Unmarshal(b, &p); err != nil || len(p.Items) != 1 {
		t.Fatalf("not the paging object: %v %q", err, b)
	}
	return p
}

func rewriting(public string) func(*proxy.Config) {
	return func(c *proxy.Config) {
		c.RewriteResponseURLs = true
		if public != "" {
			c.PublicURL, _ = url.Parse(public)
		}
	}
}

// TestRewritesPagingURLs: the upstream's /v1/ URLs in a JSON answer point at the
// proxy (PUBLIC_URL, or http:// + the caller's Host), other origins stay, and a
// client following "next" gets the next page through the proxy, token injected.
func TestRewritesPagingURLs(t *testing.T) {
	for _, tc := range []struct {
		name, public, host string
		base               func(proxyURL string) string
	}{
		{"request Host", "", "", func(p string) string { return p }},
		{"Host header as sent", "", "spotify-proxy.local:8080", func(string) string { return "http://spotify-proxy.local:8080" }},
		{"PUBLIC_URL", "https://spotify-proxy.apps:8443", "", func(string) string { return "https://spotify-proxy.apps:8443" }},
		{"PUBLIC_URL with a path", "http://gw.example/spotify", "", func(string) string { return "http://gw.example/spotify" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t, pagingHandler(false))
			e := newProxy(t, up, rewriting(tc.public))
			req := newReq(t, "GET", e.proxy.URL+"/v1/me/playlists?offset=20&limit=20", nil)
			if tc.host != "" {
				req.Host = tc.host
			}
			resp, b := do(t, req)
			base := tc.base(e.proxy.URL)
			p := decodePaging(t, b)
			for name, got := range map[string]string{
				"href": p.Href, "next": p.Next, "previous": p.Previous,
				"items[0].href": p.Items[0].Href, "tracks.href": p.Items[0].Tracks.Href,
			} {
				if !strings.HasPrefix(got, base+"/v1/") {
					t.Errorf("%s = %q, want it under %s/v1/", name, got, base)
				}
			}
			if want := base + "/v1/me/playlists?offset=40&limit=20"; p.Next != want {
				t.Errorf("next = %q, want %q", p.Next, want)
			}
			if want := base + "/v1/me"; p.Escaped != want {
				t.Errorf("escaped-slash URL = %q, want %q", p.Escaped, want)
			}
			it := p.Items[0]
			if it.Ext["spotify"] != "https://open.spotify.com/playlist/p1" ||
				it.Images[0].URL != "https://i.scdn.co/image/ab67616d0000b273" ||
				it.Other != "https://api.spotify.com/v1/playlists/p1" ||
				it.V10 != up.URL+"/v10/x" {
				t.Errorf("URLs of other origins or paths changed: %+v", it)
			}
			if resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
				t.Errorf("Content-Length %d %q: the rewritten body must be sent without the upstream's length",
					resp.ContentLength, resp.Header.Get("Content-Length"))
			}
			if tc.public != "" || tc.host != "" {
				return // the caller cannot reach those bases in this test
			}
			_, b = do(t, newReq(t, "GET", p.Next, nil))
			if decodePaging(t, b).Href != base+"/v1/me/playlists?offset=40&limit=20" {
				t.Fatalf("following next: %q", b)
			}
			reqs := up.requests()
			last := reqs[len(reqs)-1]
			if last.URL.RequestURI() != "/v1/me/playlists?offset=40&limit=20" || last.Header.Get("Authorization") != "Bearer tok-default-0" {
				t.Fatalf("next reached the upstream as %s with %q", last.URL.RequestURI(), last.Header.Get("Authorization"))
			}
		})
	}
}

// TestRewritesGzipJSON: a gzip JSON answer is decoded, rewritten and sent
// uncompressed without Content-Encoding or the compressed length.
func TestRewritesGzipJSON(t *testing.T) {
	up := newUpstream(t, pagingHandler(true))
	e := newProxy(t, up, rewriting(""))
	req := newReq(t, "GET", e.proxy.URL+"/v1/me/playlists", nil)
	req.Header.Set("Accept-Encoding", "gzip") // set by hand: the client does not decode
	resp, b := do(t, req)
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		t.Fatalf("Content-Encoding %q reached the caller", ce)
	}
	if resp.ContentLength != -1 {
		t.Fatalf("Content-Length %d", resp.ContentLength)
	}
	p := decodePaging(t, b)
	if want := e.proxy.URL + "/v1/me/playlists?offset=40&limit=20"; p.Next != want {
		t.Fatalf("next = %q, want %q", p.Next, want)
	}
	if got := up.requests()[0].Header.Get("Accept-Encoding"); got != "gzip" {
		t.Fatalf("upstream saw Accept-Encoding %q", got)
	}
}

// TestPassesOtherAnswersUntouched: bodies that are not JSON, or are encoded with a
// coding the proxy cannot decode, or any answer with rewriting off, arrive
// byte for byte with their headers.
func TestPassesOtherAnswersUntouched(t *testing.T) {
	for _, tc := range []struct {
		name, ct, ce string
		on           bool
	}{
		{"text/plain", "text/plain; charset=utf-8", "", true},
		{"image", "image/jpeg", "", true},
		{"brotli JSON", "application/json", "br", true},
		{"deflate JSON", "application/json", "deflate", true},
		{"two codings", "application/json", "gzip, br", true},
		{"JSON, rewriting off", "application/json", "", false},
		{"gzip JSON, rewriting off", "application/json", "gzip", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent []byte
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				sent = []byte(`{"next":"http://` + r.Host + `/v1/me?offset=1"}`)
				w.Header().Set("Content-Type", tc.ct)
				if tc.ce != "" {
					w.Header().Set("Content-Encoding", tc.ce)
				}
				w.Header().Set("Content-Length", strconv.Itoa(len(sent)))
				w.Header().Set("Location", "http://"+r.Host+"/v1/me")
				w.Write(sent)
			})
			e := newProxy(t, up, func(c *proxy.Config) { c.RewriteResponseURLs = tc.on })
			req := newReq(t, "GET", e.proxy.URL+"/v1/me", nil)
			req.Header.Set("Accept-Encoding", "gzip, deflate, br")
			resp, b := do(t, req)
			if !bytes.Equal(b, sent) || resp.ContentLength != int64(len(sent)) || resp.Header.Get("Content-Encoding") != tc.ce {
				t.Fatalf("got %q (length %d, encoding %q), want %q as sent", b, resp.ContentLength, resp.Header.Get("Content-Encoding"), sent)
			}
			if loc := resp.Header.Get("Location"); tc.on == (loc == up.URL+"/v1/me") {
				t.Fatalf("Location %q with rewriting %v", loc, tc.on)
			}
		})
	}
}

// TestRewritesLocation: Location headers of 201 and 3xx answers that point at the
// upstream's /v1/ lead back through the proxy; others stay.
func TestRewritesLocation(t *testing.T) {
	for _, tc := range []struct {
		status       int
		loc, public  string
		want         func(upstream, proxyURL string) string
		withUpstream bool
	}{
		{201, "/v1/playlists/abc", "", func(_, p string) string { return p + "/v1/playlists/abc" }, true},
		{303, "/v1/me/player", "http://proxy.example:8080/base", func(string, string) string { return "http://proxy.example:8080/base/v1/me/player" }, true},
		{302, "https://accounts.spotify.com/authorize?x=1", "", func(string, string) string { return "https://accounts.spotify.com/authorize?x=1" }, false},
		{307, "/v2/other", "", func(u, _ string) string { return u + "/v2/other" }, true},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				loc := tc.loc
				if tc.withUpstream {
					loc = "http://" + r.Host + loc
				}
				w.Header().Set("Location", loc)
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(tc.status)
			})
			e := newProxy(t, up, rewriting(tc.public))
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Do(newReq(t, "POST", e.proxy.URL+"/v1/x", nil))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got, want := resp.Header.Get("Location"), tc.want(up.URL, e.proxy.URL); resp.StatusCode != tc.status || got != want {
				t.Fatalf("%d Location %q, want %d %q", resp.StatusCode, got, tc.status, want)
			}
		})
	}
}

// memRT is an in-memory upstream whose body is read in the chunks body decides.
type memRT struct {
	ct, ce string
	body   func() io.Reader
	closed int // bodies closed, to check the rewritten body closes the upstream's
}

type closeCounter struct {
	io.Reader
	n *int
}

func (c closeCounter) Close() error { *c.n++; return nil }

func (m *memRT) RoundTrip(r *http.Request) (*http.Response, error) {
	h := http.Header{"Content-Type": {m.ct}}
	if m.ce != "" {
		h.Set("Content-Encoding", m.ce)
	}
	return &http.Response{
		StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
		Body: closeCounter{m.body(), &m.closed}, ContentLength: -1, Request: r,
	}, nil
}

// chunked returns a reader that hands out data in pieces of random length (≥ 1).
func chunked(data []byte, rng *rand.Rand, maxChunk int) io.Reader {
	return &chunkReader{data: data, size: func() int { return 1 + rng.IntN(maxChunk) }}
}

type chunkReader struct {
	data []byte
	size func() int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.size())], c.data)
	c.data = c.data[n:]
	return n, nil
}

const (
	memUpstream = "https://api.spotify.com"
	memHost     = "example.com" // httptest.NewRequest's Host
	pat         = memUpstream + "/v1/"
	escPat      = `https:\/\/api.spotify.com\/v1\/`
)

// serveMem sends GET /v1/x through a rewriting proxy over rt and returns the body.
func serveMem(t testing.TB, rt *memRT, public string) []byte {
	t.Helper()
	cfg := proxy.Config{Upstream: mustURL(memUpstream), Tokens: &fakeTokens{}, Transport: rt, RewriteResponseURLs: true}
	if public != "" {
		cfg.PublicURL = mustURL(public)
	}
	p, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("GET", "/v1/x", nil))
	if w.Code != 200 || w.Header().Get("Content-Encoding") != "" {
		t.Fatalf("status %d, Content-Encoding %q", w.Code, w.Header().Get("Content-Encoding"))
	}
	return w.Body.Bytes()
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// wantRewritten is the oracle: both forms of the pattern replaced with strings.ReplaceAll.
func wantRewritten(s, base string) string {
	s = strings.ReplaceAll(s, pat, base+"/v1/")
	return strings.ReplaceAll(s, escPat, strings.ReplaceAll(base+"/v1/", "/", `\/`))
}

// fragments are what random bodies are made of: the patterns, their prefixes (URLs
// cut short where a read might end), near misses and other origins.
var fragments = []string{
	pat, escPat, pat, escPat, "https://open.spotify.com/track/", "https://i.scdn.co/image/ab67",
	"https://api.spotify.com/v2/", "http://api.spotify.com/v1/", "https://api.spotify.com.evil/v1/",
	"https://api.spotify.com:443/v1/", `{"href":"`, `","next":`, "null", "h", "https:", `\/`, "/v1/", "é", "\x00",
}

func randomBody(rng *rand.Rand, n int) []byte {
	var b []byte
	for range n {
		f := fragments[rng.IntN(len(fragments))]
		if rng.IntN(4) == 0 {
			f = f[:rng.IntN(len(f)+1)]
		}
		b = append(b, f...)
	}
	return b
}

// TestRewriteAcrossReadBoundaries: whatever the chunking of the upstream body (one
// byte at a time, random pieces, plain or gzip), the output equals ReplaceAll over
// the whole body, and the upstream body is closed.
func TestRewriteAcrossReadBoundaries(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		body := randomBody(rng, rng.IntN(200))
		if i%3 == 0 {
			body = bytes.Repeat(body, 1+50_000/(len(body)+1)) // beyond the proxy's 32 KiB buffer
		}
		public := ""
		base := "http://" + memHost
		if i%2 == 1 {
			public, base = "http://spotify-proxy.apps:8080/prefix", "http://spotify-proxy.apps:8080/prefix"
		}
		want := wantRewritten(string(body), base)
		cases := []struct {
			name string
			rt   *memRT
		}{
			{"random small", &memRT{ct: "application/json", body: func() io.Reader { return chunked(body, rng, 1+rng.IntN(100)) }}},
			{"random large", &memRT{ct: "application/json", body: func() io.Reader { return chunked(body, rng, 1+rng.IntN(40_000)) }}},
			{"gzip random", &memRT{ct: "application/json", ce: "gzip", body: func() io.Reader {
				var zb bytes.Buffer
				zw := gzip.NewWriter(&zb)
				zw.Write(body)
				zw.Close()
				return chunked(zb.Bytes(), rng, 1+rng.IntN(64))
			}}},
		}
		if len(body) < 10_000 { // one byte at a time is slow under -race
			cases = append(cases, struct {
				name string
				rt   *memRT
			}{"one byte", &memRT{ct: "application/json", body: func() io.Reader { return iotest.OneByteReader(bytes.NewReader(body)) }}})
		}
		for _, tc := range cases {
			if got := serveMem(t, tc.rt, public); string(got) != want {
				t.Fatalf("case %d %s: body of %d bytes\n got %q\nwant %q", i, tc.name, len(body), got, want)
			}
			if tc.rt.closed != 1 {
				t.Fatalf("case %d %s: upstream body closed %d times", i, tc.name, tc.rt.closed)
			}
		}
	}
}

// TestRewriteGzipErrors: a corrupt gzip body is not passed off as complete: the
// response is aborted (before or after its headers went out).
func TestRewriteGzipErrors(t *testing.T) {
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	io.WriteString(zw, `{"next":"`+pat+`me"}`)
	zw.Close()
	good := zb.Bytes()
	bad := bytes.Clone(good)
	bad[len(bad)-5] ^= 0xff // the CRC
	for name, b := range map[string][]byte{"checksum": bad, "truncated": good[:len(good)/2], "not gzip": []byte("{}")} {
		t.Run(name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(b)
			})
			e := newProxy(t, up, rewriting(""))
			req := newReq(t, "GET", e.proxy.URL+"/v1/me", nil)
			req.Header.Set("Accept-Encoding", "gzip") // set by hand: the client does not decode
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return // aborted before the headers went out
			}
			defer resp.Body.Close()
			if b, err := io.ReadAll(resp.Body); err == nil {
				t.Fatalf("read %q without an error", b)
			}
		})
	}
}

// TestRewriteAllocations: with rewriting on, an answer that is not JSON costs no
// allocation more than with rewriting off, and a wrapped JSON answer one small one
// (its body; buffers are pooled). Averages over many runs, as floats: under -race,
// sync.Pool drops a quarter of what is put back and instrumentation adds about one
// allocation, for both configurations alike or for the wrapped one only.
func TestRewriteAllocations(t *testing.T) {
	type cost struct{ allocs, bytes float64 }
	measure := func(on bool, ct string) cost {
		p, _ := proxy.New(proxy.Config{Upstream: mustURL(memUpstream), Tokens: staticTokens{(&fakeTokens{}).cred("x")},
			RewriteResponseURLs: on, Transport: &memRT{ct: ct, body: func() io.Reader { return strings.NewReader(`{"id":"1"}`) }}})
		req := httptest.NewRequest("GET", "/v1/me", nil)
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req) // warm the pools
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		const runs = 2000
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			w.Body.Reset()
			clear(w.Header())
			p.ServeHTTP(w, req)
		}
		runtime.ReadMemStats(&after)
		return cost{float64(after.Mallocs-before.Mallocs) / runs, float64(after.TotalAlloc-before.TotalAlloc) / runs}
	}
	off, nonJSON := measure(false, "text/plain"), measure(true, "text/plain")
	offJSON, onJSON := measure(false, "application/json"), measure(true, "application/json")
	t.Logf("per request: non-JSON %+v on, %+v off; JSON %+v on, %+v off", nonJSON, off, onJSON, offJSON)
	if nonJSON.allocs-off.allocs > 0.5 {
		t.Errorf("non-JSON answer: %.2f allocs with rewriting, %.2f without", nonJSON.allocs, off.allocs)
	}
	if onJSON.allocs-offJSON.allocs > 2.5 || onJSON.bytes-offJSON.bytes > 16<<10 {
		t.Errorf("JSON answer: %+v with rewriting, %+v without", onJSON, offJSON)
	}
}

// TestRewriteStreams: an 8 MiB JSON answer full of matches goes through with a
// constant amount of memory (pooled buffers), not a copy of the body.
func TestRewriteStreams(t *testing.T) {
	seg := []byte(`{"href":"` + pat + `playlists/p1/tracks?offset=0&limit=100","images":[{"url":"https://i.scdn.co/image/ab67"}]},`)
	body := bytes.Repeat(seg, 8<<20/len(seg))
	want := len(wantRewritten(string(body), "http://"+memHost))
	p, _ := proxy.New(proxy.Config{Upstream: mustURL(memUpstream), Tokens: &fakeTokens{}, RewriteResponseURLs: true,
		Transport: &memRT{ct: "application/json", body: func() io.Reader { return bytes.NewReader(body) }}})
	w := &discardRW{h: http.Header{}}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p.ServeHTTP(w, httptest.NewRequest("GET", "/v1/x", nil))
	runtime.ReadMemStats(&after)
	if w.n != want {
		t.Fatalf("%d bytes out, want %d", w.n, want)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("%d bytes allocated to rewrite %d: the body is not streamed", alloc, len(body))
	}
}

// FuzzRewrite: for any body and chunking, the rewritten body equals ReplaceAll over
// the whole body.
func FuzzRewrite(f *testing.F) {
	f.Add([]byte(`{"next":"`+pat+`me?offset=1"}`), uint64(1), uint8(1))
	f.Add([]byte(escPat+escPat[:10]+pat), uint64(7), uint8(3))
	f.Add([]byte("https:https://api.spotify.com/v1https://api.spotify.com/v1/"), uint64(3), uint8(2))
	f.Fuzz(func(t *testing.T, body []byte, seed uint64, maxChunk uint8) {
		rng := rand.New(rand.NewPCG(seed, 0))
		rt := &memRT{ct: "application/json", body: func() io.Reader { return chunked(body, rng, 1+int(maxChunk)) }}
		if got, want := serveMem(t, rt, ""), wantRewritten(string(body), "http://"+memHost); string(got) != want {
			t.Fatalf("got %q\nwant %q", got, want)
		}
	})
}
