package spotifyemu_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

// newControlEnv serves the emulator and its control API the way
// cmd/spotify-emulator does.
func newControlEnv(t *testing.T) (*env, func(method, path string) (int, map[string]any)) {
	t.Helper()
	clock := newFakeClock()
	emu := spotifyemu.New(spotifyemu.Options{ClientID: testClientID, ClientSecret: testClientSecret, Now: clock.Now})
	mux := http.NewServeMux()
	mux.Handle("/_emulator/", emu.ControlHandler())
	mux.Handle("/", emu)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	do := func(method, path string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body) // 405s are plain text
		return resp.StatusCode, body
	}
	return &env{emu: emu, srv: srv, clock: clock}, do
}

func TestControlAPI(t *testing.T) {
	e, do := newControlEnv(t)
	mustOK := func(method, path string) map[string]any {
		t.Helper()
		status, body := do(method, path)
		if status != 200 {
			t.Fatalf("%s %s: %d %v", method, path, status, body)
		}
		return body
	}
	cc := url.Values{"grant_type": {"client_credentials"}}

	mustOK("POST", "/_emulator/fail-token?status=503&count=1")
	wantTokenError(t, e.postForm(t, cc, true), 503, "server_error", "Service Unavailable")
	mustOK("POST", "/_emulator/fail-token?status=502&count=-1")
	mustOK("POST", "/_emulator/clear-failures")
	if a := e.postForm(t, cc, true); a.status != 200 {
		t.Fatalf("after clear-failures: %d", a.status)
	}

	mustOK("POST", "/_emulator/token-lifetime?d=10s")
	if got := e.postForm(t, cc, true).body["expires_in"]; got != 10.0 {
		t.Errorf("expires_in %v after token-lifetime 10s", got)
	}
	mustOK("POST", "/_emulator/token-latency?d=0")

	rt := mustOK("POST", "/_emulator/issue-refresh-token?scope=s")["refresh_token"].(string)
	if live := mustOK("GET", "/_emulator/refresh-token-live?token="+url.QueryEscape(rt))["live"]; live != true {
		t.Errorf("issued token live = %v", live)
	}
	mustOK("POST", "/_emulator/refresh-policy?p=omit")
	if a := e.postForm(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, true); a.status != 200 || a.body["refresh_token"] != nil {
		t.Errorf("omit policy answer %d %v", a.status, a.body)
	}
	mustOK("POST", "/_emulator/refresh-token?token=seeded&scope=s")
	if !e.emu.RefreshTokenLive("seeded") {
		t.Error("seeded token not live")
	}
	if n := mustOK("GET", "/_emulator/live-refresh-tokens")["live_refresh_tokens"]; n != 2.0 {
		t.Errorf("live_refresh_tokens %v, want 2", n)
	}
	mustOK("POST", "/_emulator/revoke-refresh")
	if e.emu.RefreshTokenLive("seeded") {
		t.Error("revoke-refresh left a live token")
	}

	tok := e.accessToken(t)
	mustOK("POST", "/_emulator/revoke-access")
	if e.emu.AccessTokenValid(tok) {
		t.Error("revoke-access left a valid token")
	}
	mustOK("POST", "/_emulator/legacy-401?on=true")
	wantAPIError(t, e.get(t, "/v1/me", tok), 401, "Invalid access token")

	mustOK("POST", "/_emulator/rate-limit?count=1&retry_after=2")
	a := e.get(t, "/v1/me", tok)
	wantAPIError(t, a, 429, "API rate limit exceeded")
	if a.resp.Header.Get("Retry-After") != "2" {
		t.Errorf("Retry-After %q", a.resp.Header.Get("Retry-After"))
	}

	stats := mustOK("GET", "/_emulator/stats")
	for key, want := range map[string]float64{
		"token_calls": 5, "token_failures": 1, "client_credential_calls": 3, "refresh_calls": 2,
		"rate_limited": 1, "unauthorized": 1, "api_calls": 2, "basic_auth_calls": 5,
	} {
		if stats[key] != want {
			t.Errorf("stats %s = %v, want %v (%v)", key, stats[key], want, stats)
		}
	}
}

func TestControlAPIErrors(t *testing.T) {
	_, do := newControlEnv(t)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/_emulator/fail-token?status=abc", 400},
		{"POST", "/_emulator/fail-token?status=503&count=x", 400},
		{"POST", "/_emulator/token-latency?d=soon", 400},
		{"POST", "/_emulator/refresh-policy?p=sometimes", 400},
		{"POST", "/_emulator/legacy-401?on=maybe", 400},
		{"POST", "/_emulator/rate-limit", 400},
		{"POST", "/_emulator/refresh-token", 400},
		{"GET", "/_emulator/revoke-access", 405},
		{"GET", "/_emulator/nothing", 404},
	} {
		if status, body := do(tc.method, tc.path); status != tc.want {
			t.Errorf("%s %s: %d %v, want %d", tc.method, tc.path, status, body, tc.want)
		}
	}
}

func TestControlDurations(t *testing.T) {
	e, do := newControlEnv(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	for _, tc := range []struct {
		d    string
		want float64
	}{{"90", 90}, {"1m30s", 90}, {"1500ms", 2}} {
		if status, _ := do("POST", "/_emulator/token-lifetime?d="+tc.d); status != 200 {
			t.Fatalf("d=%s: status %d", tc.d, status)
		}
		if got := e.postForm(t, cc, true).body["expires_in"]; got != tc.want {
			t.Errorf("d=%s: expires_in %v, want %v", tc.d, got, tc.want)
		}
	}
}
