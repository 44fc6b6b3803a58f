package main

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmb3/spotify/v2"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

// requestLog is an http.RoundTripper that notes every URL the client asks.
type requestLog struct {
	mu   sync.Mutex
	urls []string
	next http.RoundTripper
}

func (l *requestLog) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.urls = append(l.urls, req.URL.String())
	l.mu.Unlock()
	return l.next.RoundTrip(req)
}

func (l *requestLog) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.urls[n:]...)
}

// proxiedGETs reads the proxy's count of answered GET requests with status
// 200 from its /metrics page.
func proxiedGETs(t *testing.T, p *proc) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "spotify_proxy_requests_total{") || !strings.Contains(line, `code="200"`) || !strings.Contains(line, `method="GET"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		n += v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// A client that pages through the proxy stays on the proxy: every page of a
// playlist's items, fetched with zmb3/spotify's NextPage from the absolute
// next URLs in Spotify's answers, is asked of and answered by the proxy, and
// every item arrives. This needs the proxy to rewrite the upstream's
// absolute URLs (href, next, previous) to its own; without that, NextPage
// follows the emulator's next URL, leaves the proxy and has no token.
func TestPagingStaysOnTheProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	emu := startEmulator(t, spotifyemu.Options{ClientID: "page-client", ClientSecret: "page-secret", TokenLifetime: time.Hour})
	p := startProxy(t, emu.env(t, map[string]string{
		"SPOTIFY_REFRESH_TOKEN": emu.IssueRefreshToken("playlist-read-private"),
	}))
	proxyURL := "http://" + p.listen
	reqs := &requestLog{next: http.DefaultTransport}
	httpClient := &http.Client{Transport: reqs, Timeout: 30 * time.Second}
	t.Cleanup(httpClient.CloseIdleConnections)
	client := spotify.New(httpClient, spotify.WithBaseURL(proxyURL+"/v1/"))
	ctx := context.Background()

	playlists, err := client.CurrentUsersPlaylists(ctx)
	if err != nil || len(playlists.Playlists) == 0 {
		t.Fatalf("CurrentUsersPlaylists through the proxy: %v", err)
	}
	long := playlists.Playlists[0]
	if long.Tracks.Total <= 40 {
		t.Fatalf("playlist %q has %d items, want 41+ (3+ pages of 20)", long.Name, long.Tracks.Total)
	}

	before, asked := proxiedGETs(t, p), len(reqs.since(0))
	items, err := client.GetPlaylistItems(ctx, long.ID)
	if err != nil {
		t.Fatalf("GetPlaylistItems through the proxy: %v", err)
	}
	got, pages := len(items.Items), 1
	for {
		next := items.Next
		err := client.NextPage(ctx, items)
		if errors.Is(err, spotify.ErrNoMorePages) {
			break
		}
		if err != nil && !strings.HasPrefix(next, proxyURL+"/v1/") {
			t.Fatalf("NextPage for page %d failed: %v\n"+
				"it asked %s, not the proxy at %s: the answer's next URL was not rewritten to the proxy",
				pages+1, err, next, proxyURL)
		}
		if err != nil {
			t.Fatalf("NextPage for page %d (%s): %v", pages+1, next, err)
		}
		got += len(items.Items)
		pages++
	}

	for i, u := range reqs.since(asked) {
		if !strings.HasPrefix(u, proxyURL+"/v1/") {
			t.Errorf("page request %d went to %s, not to the proxy at %s", i+1, u, proxyURL)
		}
	}
	if pages < 3 || got != int(long.Tracks.Total) {
		t.Fatalf("%d pages with %d items, want 3+ pages and all %d items", pages, got, long.Tracks.Total)
	}
	if answered := proxiedGETs(t, p) - before; answered != float64(pages) {
		t.Fatalf("the proxy answered %v GETs with 200 while paging, want one per page (%d)", answered, pages)
	}
}
