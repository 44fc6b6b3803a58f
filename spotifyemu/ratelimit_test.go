package spotifyemu_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRollingWindowLimit(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	e.emu.SetRateLimit(3, 30*time.Second)
	for i := 0; i < 3; i++ {
		if a := e.get(t, "/v1/me", tok); a.resp.StatusCode != 200 {
			t.Fatalf("call %d: %d", i, a.resp.StatusCode)
		}
		e.clock.Add(10 * time.Second)
	}
	// Calls at 0, 10 and 20 s; the clock shows 30 s. Back to 25 s: the window is full.
	e.clock.Add(-5 * time.Second)
	a := e.get(t, "/v1/me", tok)
	wantAPIError(t, a, 429, "API rate limit exceeded")
	if ra := a.resp.Header.Get("Retry-After"); ra != "5" {
		t.Fatalf("Retry-After %q, want 5 (the oldest call leaves the window at 30 s)", ra)
	}
	e.clock.Add(5*time.Second + time.Millisecond)
	if a := e.get(t, "/v1/me", tok); a.resp.StatusCode != 200 {
		t.Fatalf("after the wait: %d", a.resp.StatusCode)
	}
	if st := e.emu.RateStats(); st.Limited != 1 || st.Served != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPenaltyGrowsDuringTheWait(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	e.emu.SetRateLimit(1, 30*time.Second)
	e.emu.SetRatePenalty(10 * time.Second)
	e.get(t, "/v1/me", tok)
	if ra := e.get(t, "/v1/me", tok).resp.Header.Get("Retry-After"); ra != "30" {
		t.Fatalf("first 429: Retry-After %q", ra)
	}
	if ra := e.get(t, "/v1/me", tok).resp.Header.Get("Retry-After"); ra != "40" {
		t.Fatalf("a call during the wait: Retry-After %q, want 40", ra)
	}
	if st := e.emu.RateStats(); st.DuringBlock != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Off by default: without a penalty the wait does not grow.
	e2 := newEnv(t, nil)
	tok2 := e2.accessToken(t)
	e2.emu.SetRateLimit(1, 30*time.Second)
	e2.get(t, "/v1/me", tok2)
	e2.get(t, "/v1/me", tok2)
	if ra := e2.get(t, "/v1/me", tok2).resp.Header.Get("Retry-After"); ra != "30" {
		t.Fatalf("without a penalty: Retry-After %q", ra)
	}
}

func TestQuotaExceededAndPathLimits(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	e.emu.SetPathLimit("/v1/playlists/*/images", 1)
	e.emu.SetQuotaExceeded(true)
	img := "/v1/playlists/37i9dQZF1DXcBWIGoYBM5M/images"
	e.call(t, http.MethodPut, img, "Bearer "+tok, "image/jpeg", strings.NewReader("x"))
	a := e.call(t, http.MethodPut, img, "Bearer "+tok, "image/jpeg", strings.NewReader("x"))
	if a.resp.StatusCode != 429 || !strings.Contains(string(a.body), `"reason":"QUOTA_EXCEEDED"`) {
		t.Fatalf("second image upload: %d %s", a.resp.StatusCode, a.body)
	}
	// Other paths have no limit.
	if a := e.get(t, "/v1/me", tok); a.resp.StatusCode != 200 {
		t.Fatalf("other path: %d", a.resp.StatusCode)
	}
}

func TestAPIFaultOnGETsOnly(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	e.emu.SetAPIFault(503, 1, http.MethodGet)
	if a := e.get(t, "/v1/me", tok); a.resp.StatusCode != 503 {
		t.Fatalf("GET: %d", a.resp.StatusCode)
	}
	if a := e.call(t, http.MethodPut, "/v1/me/player/pause", "Bearer "+tok, "", nil); a.resp.StatusCode == 503 {
		t.Fatal("PUT got the GET fault")
	}
	e.emu.SetAPIFault(503, 0, "")
	if a := e.get(t, "/v1/me", tok); a.resp.StatusCode != 200 {
		t.Fatalf("after clearing: %d", a.resp.StatusCode)
	}
}

func TestRateControlAPI(t *testing.T) {
	e := newEnv(t, nil)
	ctl := httptest.NewServer(e.emu.ControlHandler())
	defer ctl.Close()
	for path, want := range map[string]int{
		"/_emulator/rate-limit-window?limit=1&window=30s": 200,
		"/_emulator/rate-limit-window?limit=x":            400,
		"/_emulator/rate-penalty?d=2s":                    200,
		"/_emulator/quota-exceeded?on=true":               200,
		"/_emulator/path-limit?pattern=/v1/x&limit=2":     200,
		"/_emulator/path-limit?limit=2":                   400,
		"/_emulator/api-fault?status=503&ratio=0.2":       200,
		"/_emulator/api-fault?status=200&ratio=0.2":       400,
	} {
		resp, err := http.Post(ctl.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	e.emu.SetAPIFault(503, 0, "")
	tok := e.accessToken(t)
	e.get(t, "/v1/me", tok)
	a := e.get(t, "/v1/me", tok)
	if a.resp.StatusCode != 429 || !strings.Contains(string(a.body), "QUOTA_EXCEEDED") {
		t.Fatalf("switches not applied: %d %s", a.resp.StatusCode, a.body)
	}
	resp, err := http.Get(ctl.URL + "/_emulator/rate-stats")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("rate-stats: %v", err)
	}
	resp.Body.Close()
}
