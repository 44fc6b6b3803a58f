package spotifyemu_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

// BenchmarkAPIParallel measures the emulator's own cost of an authenticated
// Web API call (no network): the hot path of load tests.
func BenchmarkAPIParallel(b *testing.B) {
	emu := spotifyemu.New(spotifyemu.Options{ClientID: testClientID, ClientSecret: testClientSecret})
	req := httptest.NewRequest(http.MethodPost, "/api/token", strings.NewReader("grant_type=refresh_token&refresh_token="+emu.IssueRefreshToken("s")))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testClientID, testClientSecret)
	rec := httptest.NewRecorder()
	emu.ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || rec.Code != 200 {
		b.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/v1/me/top/tracks?limit=5", nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			rec := httptest.NewRecorder()
			emu.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}
