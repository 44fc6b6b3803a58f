package main

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

// TestHealthcheckAgainstTheProxy: `spotify-token-proxy healthcheck`, as the image's
// and Compose's HEALTHCHECK run it, exits 0 against a running proxy's admin listener
// (found through ADMIN_ADDR, as in the container) and 1 once it has stopped.
func TestHealthcheckAgainstTheProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	emu := spotifyemu.New(spotifyemu.Options{ClientID: "hc-client", ClientSecret: "hc-secret", TokenLifetime: time.Hour})
	es := httptest.NewServer(emu)
	defer es.Close()
	p := startProxy(t, map[string]string{
		"SPOTIFY_CLIENT_ID": "hc-client", "SPOTIFY_CLIENT_SECRET": "hc-secret",
		"SPOTIFY_API_URL": es.URL, "SPOTIFY_ACCOUNTS_URL": es.URL,
		"TOKEN_FILE": filepath.Join(t.TempDir(), "tokens.json"),
	})
	healthcheck := func() (int, string) {
		cmd := exec.Command(binary(t), "healthcheck")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "ADMIN_ADDR=" + p.admin}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := healthcheck(); code != 0 {
		t.Fatalf("healthcheck against a ready proxy: exit %d\n%s", code, out)
	}
	p.stop(t)
	if code, out := healthcheck(); code != 1 {
		t.Fatalf("healthcheck against a stopped proxy: exit %d, want 1\n%s", code, out)
	}
}
