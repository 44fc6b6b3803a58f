package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

// lineWriter hands complete stdout lines to a channel.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line) // incomplete: keep for later
			return len(p), nil
		}
		select {
		case w.lines <- strings.TrimSuffix(line, "\n"):
		default: // nobody listening: drop
		}
	}
}

// start runs the command on a free port and returns its base URL; the
// command is stopped and checked for a clean exit at cleanup.
func start(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lineWriter{lines: make(chan string, 10)}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after cancel, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("run did not return after cancel")
		}
	})
	select {
	case line := <-out.lines:
		base, ok := strings.CutPrefix(line, "listening on ")
		if !ok || strings.HasSuffix(base, ":0") {
			t.Fatalf("first line %q, want the real address", line)
		}
		return base
	case err := <-done:
		t.Fatalf("run returned early: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no listening line")
	}
	return ""
}

func TestRunServesEmulatorAndControlAPI(t *testing.T) {
	base := start(t, "-client-id", "cid", "-client-secret", "csecret",
		"-refresh-token", "seed-a,seed-b", "-refresh-token", "seed-c", "-refresh-policy", "omit", "-token-lifetime", "90s")

	resp, err := http.Get(base + "/_emulator/live-refresh-tokens")
	if err != nil {
		t.Fatal(err)
	}
	var live struct {
		N int `json:"live_refresh_tokens"`
	}
	err = json.NewDecoder(resp.Body).Decode(&live)
	resp.Body.Close()
	if err != nil || live.N != 3 {
		t.Fatalf("live refresh tokens %d (%v), want 3", live.N, err)
	}

	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"seed-b"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/api/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("cid", "csecret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("refresh: %d %v %v", resp.StatusCode, tok, err)
	}
	if _, ok := tok["refresh_token"]; ok || tok["expires_in"] != 90.0 || !strings.Contains(tok["scope"].(string), "ugc-image-upload") {
		t.Errorf("flags not applied: %v", tok)
	}

	req, _ = http.NewRequest(http.MethodGet, base+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/v1/me: %d", resp.StatusCode)
	}
}

func TestRunLegacy401Flag(t *testing.T) {
	base := start(t, "-legacy-401")
	resp, err := http.Get(base + "/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(b), "No token provided") {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
}

// -base-url replaces the request's scheme and host in absolute URLs.
func TestRunBaseURLFlag(t *testing.T) {
	base := start(t, "-base-url", "https://emulator.example:8443/", "-refresh-token", "seed")
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"seed"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/api/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("demo-client", "demo-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("refresh: %d %v", resp.StatusCode, err)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/v1/me/playlists?limit=2", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Href string `json:"href"`
		Next string `json:"next"`
	}
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/v1/me/playlists: %d %v", resp.StatusCode, err)
	}
	if page.Href != "https://emulator.example:8443/v1/me/playlists?offset=0&limit=2" ||
		page.Next != "https://emulator.example:8443/v1/me/playlists?offset=2&limit=2" {
		t.Errorf("href %q next %q, want them on the -base-url", page.Href, page.Next)
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		addr: "127.0.0.1:8090", clientID: "demo-client", clientSecret: "demo-secret",
		tokenLifetime: time.Hour, refreshPolicy: spotifyemu.RotateRevokeOld, scope: defaultScope,
	}
	if cfg.addr != want.addr || cfg.clientID != want.clientID || cfg.clientSecret != want.clientSecret ||
		cfg.tokenLifetime != want.tokenLifetime || cfg.refreshPolicy != want.refreshPolicy || cfg.scope != want.scope ||
		cfg.legacy401 || len(cfg.refreshTokens) != 0 {
		t.Errorf("defaults %+v", cfg)
	}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"bad policy", []string{"-refresh-policy", "sometimes"}},
		{"empty secret", []string{"-client-secret", ""}},
		{"bad lifetime", []string{"-token-lifetime", "0s"}},
		{"extra argument", []string{"serve"}},
		{"unknown flag", []string{"-port", "1"}},
		{"relative base URL", []string{"-base-url", "emulator:8090"}},
		{"base URL with a query", []string{"-base-url", "http://emulator:8090/?x=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseFlags(tc.args, io.Discard); err == nil {
				t.Error("no error")
			}
		})
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestRunFailsOnBadAddress(t *testing.T) {
	if err := run(context.Background(), []string{"-addr", "256.0.0.1:bad"}, io.Discard); err == nil {
		t.Error("no error for a bad address")
	}
}
