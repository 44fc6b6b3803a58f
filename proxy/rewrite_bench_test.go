package proxy_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// playlistsPage is a Spotify-like GET /v1/me/playlists page of n items, with its URLs
// under origin: about 1 KiB per item, 7 /v1/ URLs and 3 URLs of other origins each.
func playlistsPage(origin string, n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"href":"%[1]s/v1/me/playlists?offset=0&limit=%[2]d","limit":%[2]d,"next":"%[1]s/v1/me/playlists?offset=%[2]d&limit=%[2]d","offset":0,"previous":null,"total":500,"items":[`, origin, n)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"collaborative":false,"description":"Songs for a long drive, number %[2]d","external_urls":{"spotify":"https://open.spotify.com/playlist/37i9dQZF1DX%06[2]d"},`+
			`"href":"%[1]s/v1/playlists/37i9dQZF1DX%06[2]d","id":"37i9dQZF1DX%06[2]d","images":[{"height":640,"url":"https://i.scdn.co/image/ab67616d0000b273%06[2]d","width":640},`+
			`{"height":300,"url":"https://mosaic.scdn.co/300/ab67616d0000b273%06[2]d","width":300}],"name":"Drive %[2]d",`+
			`"owner":{"display_name":"Emulated User","external_urls":{"spotify":"https://open.spotify.com/user/user-1"},"href":"%[1]s/v1/users/user-1","id":"user-1","type":"user","uri":"spotify:user:user-1"},`+
			`"primary_color":null,"public":true,"snapshot_id":"MTY4OTk2NjE1NCwwMDAwMDAwMGQ0MWQ4Y2Q5OGYwMGIyMDRlOTgwMDk5OGVjZjg0Mjdl",`+
			`"tracks":{"href":"%[1]s/v1/playlists/37i9dQZF1DX%06[2]d/tracks","total":%[2]d},"items":{"href":"%[1]s/v1/playlists/37i9dQZF1DX%06[2]d/items","total":%[2]d},`+
			`"type":"playlist","uri":"spotify:playlist:37i9dQZF1DX%06[2]d","followers":{"href":null,"total":%[2]d}}`, origin, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// audioAnalysis is a Spotify-like audio analysis of about n KB: numbers, no URLs.
func audioAnalysis(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"meta":{"analyzer_version":"4.0.0","platform":"Linux","status_code":0},"segments":[`)
	for i := 0; b.Len() < n<<10; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"start":%d.%03d,"duration":0.%05d,"confidence":0.%03d,"loudness_start":-2%d.%03d,"loudness_max_time":0.%05d,"loudness_max":-1%d.%03d,`+
			`"pitches":[0.%03d,0.%03d,1.0,0.%03d,0.%03d,0.%03d,0.%03d,0.%03d,0.%03d,0.%03d,0.%03d,0.%03d],"timbre":[4%d.%03d,-1%d.%03d,2%d.%03d,-3%d.%03d]}`,
			i/4, i%1000, i*37%100000, i*7%1000, i%10, i*11%1000, i*13%100000, i%10, i*17%1000,
			i*19%1000, i*23%1000, i*29%1000, i*31%1000, i*37%1000, i*41%1000, i*43%1000, i*47%1000, i*53%1000, i*59%1000, i*61%1000,
			i%10, i*67%1000, i%10, i*71%1000, i%10, i*73%1000, i%10, i*79%1000)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func gzipped(b []byte) []byte {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(b)
	zw.Close()
	return z.Bytes()
}

// bytesRT answers every request with body, as Spotify does: with a Content-Length.
type bytesRT struct {
	ct, ce string
	body   []byte
}

func (s bytesRT) RoundTrip(r *http.Request) (*http.Response, error) {
	h := http.Header{"Content-Type": {s.ct}}
	if s.ce != "" {
		h["Content-Encoding"] = []string{s.ce}
	}
	return &http.Response{
		StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
		Body: io.NopCloser(bytes.NewReader(s.body)), ContentLength: int64(len(s.body)), Request: r,
	}, nil
}

// discardRW is a ResponseWriter that only counts, so the benchmark measures the proxy.
type discardRW struct {
	h http.Header
	n int
}

func (d *discardRW) Header() http.Header         { return d.h }
func (d *discardRW) WriteHeader(int)             {}
func (d *discardRW) Flush()                      {}
func (d *discardRW) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// BenchmarkRewrite: one GET through the proxy whose answer is a 50-item playlists
// page (≈ 52 KB of JSON; "small": one item, ≈ 1.4 KB). MB/s is of the uncompressed
// JSON. "off" is the floor; "no-match" is a JSON page whose /v1/ URLs are of another
// origin (scanned, not changed); "no-urls" an audio analysis (numbers, ≈ 52 KB).
func BenchmarkRewrite(b *testing.B) {
	const up = "https://api.spotify.com"
	match := playlistsPage(up, 50)
	noMatch := playlistsPage("https://api.example.net", 50)
	small := playlistsPage(up, 1)
	noURLs := audioAnalysis(52)
	for _, bc := range []struct {
		name   string
		on     bool
		rt     bytesRT
		public string
		size   int
	}{
		{"off-json", false, bytesRT{ct: "application/json; charset=utf-8", body: match}, "", len(match)},
		{"off-not-json", false, bytesRT{ct: "text/plain", body: match}, "", len(match)},
		{"on-not-json", true, bytesRT{ct: "text/plain", body: match}, "", len(match)},
		{"on-json-no-match", true, bytesRT{ct: "application/json; charset=utf-8", body: noMatch}, "", len(noMatch)},
		{"off-json-no-urls", false, bytesRT{ct: "application/json; charset=utf-8", body: noURLs}, "", len(noURLs)},
		{"on-json-no-urls", true, bytesRT{ct: "application/json; charset=utf-8", body: noURLs}, "", len(noURLs)},
		{"on-json-match", true, bytesRT{ct: "application/json; charset=utf-8", body: match}, "", len(match)},
		{"on-json-match-public-url", true, bytesRT{ct: "application/json; charset=utf-8", body: match}, "http://spotify-proxy.apps:8080", len(match)},
		{"off-json-small", false, bytesRT{ct: "application/json; charset=utf-8", body: small}, "", len(small)},
		{"on-json-match-small", true, bytesRT{ct: "application/json; charset=utf-8", body: small}, "", len(small)},
		{"off-gzip", false, bytesRT{ct: "application/json; charset=utf-8", ce: "gzip", body: gzipped(match)}, "", len(match)},
		{"on-gzip-match", true, bytesRT{ct: "application/json; charset=utf-8", ce: "gzip", body: gzipped(match)}, "", len(match)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := proxy.Config{
				Upstream: mustURL(up), Transport: bc.rt, RewriteResponseURLs: bc.on,
				Tokens: staticTokens{tokenstore.NewCredential("static-token", time.Now().Add(time.Hour), "")},
			}
			if bc.public != "" {
				cfg.PublicURL = mustURL(bc.public)
			}
			p, err := proxy.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/v1/me/playlists?limit=50", nil)
			req.Host = "localhost:8080"
			w := &discardRW{h: http.Header{}}
			p.ServeHTTP(w, req)
			rewritten := bc.on && strings.Contains(bc.name, "-match") && !strings.Contains(bc.name, "no-match")
			if (rewritten && w.n == bc.size) || (!rewritten && w.n != len(bc.rt.body)) {
				b.Fatalf("%d bytes out for %d in: want rewritten %v", w.n, len(bc.rt.body), rewritten)
			}
			b.SetBytes(int64(bc.size))
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				p.ServeHTTP(w, req)
			}
		})
	}
}
