package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// answer is what a caller got from a replica.
type answer struct {
	status     int
	retryAfter string
	body       string
	err        error
}

func fetchMe(p *proc) answer {
	resp, err := http.Get("http://" + p.listen + "/v1/me")
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(body), err: err}
}

// operatorPage signs in to a replica's operator page and returns a function that
// reads its rate-limit panel.
func operatorPage(t *testing.T, p *proc, adminToken string) func() string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.PostForm("http://"+p.admin+"/auth/signin", url.Values{"token": {adminToken}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	return func() string {
		resp, err := c.Get("http://" + p.admin + "/")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		_, panel, _ := strings.Cut(string(b), `<h2 id="ratelimits">`)
		panel, _, _ = strings.Cut(panel, "</section>")
		return panel
	}
}

// When a block ends, one call reaches Spotify for both replicas: the probe, sent by
// the replica that took the lease in a real redis-server, while the other one holds
// its requests (its operator page says so). Spotify answers the probe 429 again,
// so the block is renewed on both, and the requests waiting in both are answered
// by the proxy without another call to Spotify.
func TestRateLimitOneProbeAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary, needs redis-server")
	}
	srv := redistest.StartServer(t)
	emu := spotifyemu.New(spotifyemu.Options{ClientID: "rl-client", ClientSecret: "rl-secret", RefreshPolicy: spotifyemu.NeverRotate})
	// Once armed, Spotify's answers wait for release: the probe's answer is held
	// until the other replica is seen waiting for it.
	var armed atomic.Bool
	arrivals, hold := make(chan struct{}, 16), make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if armed.Load() && strings.HasPrefix(r.URL.Path, "/v1/") {
			arrivals <- struct{}{}
			<-hold
		}
		emu.ServeHTTP(w, r)
	}))
	defer es.Close()
	defer release()
	const adminToken = "rl-admin-token-0123456789"
	env := map[string]string{
		"SPOTIFY_CLIENT_ID": "rl-client", "SPOTIFY_CLIENT_SECRET": "rl-secret",
		"SPOTIFY_REFRESH_TOKEN": emu.IssueRefreshToken("user-read-private"),
		"SPOTIFY_API_URL":       es.URL, "SPOTIFY_ACCOUNTS_URL": es.URL, "TOKEN_FILE": filepath.Join(t.TempDir(), "unused.json"),
		"REDIS_URL": "redis://" + srv.Addr() + "/0", "KEY_PREFIX": "rl-probe:", "RATE_LIMIT_MAX_WAIT": "10s",
		"ADMIN_TOKEN": adminToken, "AUTH_REDIRECT_URL": "http://127.0.0.1:1/auth/callback",
	}
	replicas := []*proc{startProxy(t, env), startProxy(t, env)}
	panels := []func() string{operatorPage(t, replicas[0], adminToken), operatorPage(t, replicas[1], adminToken)}
	for _, p := range replicas {
		if a := fetchMe(p); a.err != nil || a.status != 200 {
			t.Fatalf("warm-up: %d %v %s", a.status, a.err, a.body)
		}
	}
	emu.RateLimit(1, "2")
	if a := fetchMe(replicas[0]); a.status != 429 || a.retryAfter != "2" {
		t.Fatalf("Spotify's 429: %d %q %s", a.status, a.retryAfter, a.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(panels[1](), "blocked (PROXY_RATE_LIMITED)") {
		if time.Now().After(deadline) {
			t.Fatalf("replica b never learnt of the block: %s", panels[1]())
		}
		time.Sleep(10 * time.Millisecond) // polling b's operator page; no request reaches Spotify meanwhile
	}
	emu.RateLimit(1, "30") // the probe's answer
	calls := emu.Stats().APICalls
	armed.Store(true)
	const waiting = 6 // three in each replica, held until the block ends
	answers := make(chan answer, waiting)
	for i := range waiting {
		go func() { answers <- fetchMe(replicas[i%2]) }()
	}
	select {
	case <-arrivals: // the probe
	case <-time.After(15 * time.Second):
		t.Fatal("no probe reached Spotify after the block")
	}
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(panels[0]()+panels[1](), "probing: another replica") {
		select {
		case <-arrivals:
			t.Fatal("a second probe reached Spotify")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replica waits for the other's probe:\n%s\n%s", panels[0](), panels[1]())
		}
		time.Sleep(10 * time.Millisecond) // polling the operator pages
	}
	release()
	fromSpotify, fromProxy := 0, 0
	for range waiting {
		a := <-answers
		switch {
		case a.err != nil:
			t.Fatal(a.err)
		case a.status == 429 && strings.Contains(a.body, "API rate limit exceeded") && a.retryAfter == "30":
			fromSpotify++ // the probe's answer, passed through
		case a.status == 429 && strings.Contains(a.body, "PROXY_RATE_LIMITED") && (a.retryAfter == "30" || a.retryAfter == "29"):
			fromProxy++
		default:
			t.Fatalf("a waiting request got %d (Retry-After %q): %s", a.status, a.retryAfter, a.body)
		}
	}
	if got := emu.Stats().APICalls - calls; got != 1 || fromSpotify != 1 || fromProxy != waiting-1 {
		t.Fatalf("after the block: %d calls reached Spotify (want the one probe); %d answers from Spotify, %d from the proxy",
			got, fromSpotify, fromProxy)
	}
	for i, panel := range panels {
		if !strings.Contains(panel(), "blocked (PROXY_RATE_LIMITED): ") {
			t.Fatalf("replica %d after the probe's 429: %s", i, panel())
		}
	}
}
