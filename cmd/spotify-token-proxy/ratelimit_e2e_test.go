package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/redistest"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

// blockedSeconds reads spotify_proxy_rate_limit_blocked_seconds from a replica.
func blockedSeconds(t *testing.T, p *proc) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "spotify_proxy_rate_limit_blocked_seconds "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	t.Fatal("no blocked gauge")
	return 0
}

// One replica's 429 from Spotify holds the other replica, through a real redis-server.
func TestRateLimitBlockSharedAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary, needs redis-server")
	}
	srv := redistest.StartServer(t)
	emu := spotifyemu.New(spotifyemu.Options{ClientID: "rl-client", ClientSecret: "rl-secret", RefreshPolicy: spotifyemu.NeverRotate})
	es := httptest.NewServer(emu)
	defer es.Close()
	env := map[string]string{
		"SPOTIFY_CLIENT_ID": "rl-client", "SPOTIFY_CLIENT_SECRET": "rl-secret",
		"SPOTIFY_REFRESH_TOKEN": emu.IssueRefreshToken("user-read-private"),
		"SPOTIFY_API_URL":       es.URL, "SPOTIFY_ACCOUNTS_URL": es.URL, "TOKEN_FILE": filepath.Join(t.TempDir(), "unused.json"),
		"REDIS_URL": "redis://" + srv.Addr() + "/0", "KEY_PREFIX": "rl-e2e:",
	}
	a := startProxy(t, env)
	b := startProxy(t, env)
	get := func(p *proc) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get("http://" + p.listen + "/v1/me")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	for _, p := range []*proc{a, b} {
		if resp, body := get(p); resp.StatusCode != 200 {
			t.Fatalf("warm-up: %d %s", resp.StatusCode, body)
		}
	}
	emu.RateLimit(1, "30")
	resp, body := get(a)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "30" || !strings.Contains(string(body), "API rate limit exceeded") {
		t.Fatalf("Spotify's 429 did not pass through: %d %s", resp.StatusCode, body)
	}
	calls := emu.Stats().APICalls
	// Replica b learns of the block through Redis pub/sub.
	deadline := time.Now().Add(10 * time.Second)
	for blockedSeconds(t, b) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("replica b never learnt of the block")
		}
		time.Sleep(10 * time.Millisecond) // polling b's metrics; no request reaches Spotify meanwhile
	}
	for _, p := range []*proc{b, a, b} {
		resp, body = get(p)
		var se struct {
			Error struct{ Reason string } `json:"error"`
		}
		_ = json.Unmarshal(body, &se)
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != 429 || se.Error.Reason != "PROXY_RATE_LIMITED" || ra < 28 || ra > 30 {
			t.Fatalf("during the block: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	if got := emu.Stats().APICalls - calls; got != 0 {
		t.Fatalf("%d calls reached Spotify during the block", got)
	}
	// A third replica that starts during the block reads it from Redis.
	c := startProxy(t, env)
	if resp, _ := get(c); resp.StatusCode != 429 || emu.Stats().APICalls != calls {
		t.Fatalf("a replica started during the block: %d, %d calls", resp.StatusCode, emu.Stats().APICalls-calls)
	}
}
