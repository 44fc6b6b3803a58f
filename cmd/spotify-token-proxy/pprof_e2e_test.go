package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

// PPROF=true serves /debug/pprof/ on the admin listener behind ADMIN_TOKEN; by
// default it is not served at all.
func TestPprofSetting(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	emu := startEmulator(t, spotifyemu.Options{ClientID: "pprof-client", ClientSecret: "pprof-secret", TokenLifetime: time.Hour})
	const adminToken = "pprof-admin-token-0123456789"
	start := func(pprof string) *proc {
		return startProxy(t, emu.env(t, map[string]string{"ADMIN_TOKEN": adminToken, "PPROF": pprof}))
	}
	get := func(p *proc, auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+p.admin+"/debug/pprof/", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	on := start("true")
	if status, body := get(on, "Bearer "+adminToken); status != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("PPROF=true with the admin token: %d %q", status, body)
	}
	for _, auth := range []string{"", "Bearer wrong-admin-token-0123456789"} {
		if status, body := get(on, auth); status != http.StatusUnauthorized || strings.Contains(body, "goroutine") {
			t.Fatalf("PPROF=true, Authorization %q: %d %q, want 401", auth, status, body)
		}
	}
	on.stop(t)

	off := start("") // the default
	if status, _ := get(off, "Bearer "+adminToken); status != http.StatusNotFound {
		t.Fatalf("PPROF unset: %d, want 404", status)
	}
}
