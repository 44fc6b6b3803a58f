package spotifyemu_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmb3/spotify/v2"
	"golang.org/x/oauth2"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

func TestUnauthorizedAnswers(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			e := newEnv(t, func(o *spotifyemu.Options) { o.Legacy401 = legacy; o.TokenLifetime = time.Minute })
			expired := e.accessToken(t)
			e.clock.Add(time.Minute)
			for _, tc := range []struct {
				name, authorization, legacyMsg string
			}{
				{"no header", "", "No token provided"},
				{"empty bearer", "Bearer ", "No token provided"},
				{"unknown", "Bearer BQnot-a-token", "Invalid access token"},
				{"expired", "Bearer " + expired, "The access token expired"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					msg := "Missing/invalid/expired access token"
					if legacy {
						msg = tc.legacyMsg
					}
					a := e.call(t, http.MethodGet, "/v1/me", tc.authorization, "", nil)
					wantAPIError(t, a, 401, msg)
					want := `Bearer realm="spotify", error="invalid_token", error_description="` + msg + `"`
					if got := a.resp.Header.Get("WWW-Authenticate"); got != want {
						t.Errorf("WWW-Authenticate %q, want %q", got, want)
					}
				})
			}
			if st := e.emu.Stats(); st.Unauthorized != 4 {
				t.Errorf("Unauthorized = %d, want 4", st.Unauthorized)
			}
		})
	}
}

func TestSetLegacy401AtRunTime(t *testing.T) {
	e := newEnv(t, nil)
	e.emu.SetLegacy401(true)
	wantAPIError(t, e.get(t, "/v1/me", "BQunknown"), 401, "Invalid access token")
	e.emu.SetLegacy401(false)
	wantAPIError(t, e.get(t, "/v1/me", "BQunknown"), 401, "Missing/invalid/expired access token")
}

func TestNonBearerAuthorization(t *testing.T) {
	e := newEnv(t, nil)
	a := e.call(t, http.MethodGet, "/v1/me", "Basic dGVzdDp0ZXN0", "", nil)
	wantAPIError(t, a, 400, "Only valid bearer authentication supported")
	// The scheme is case-insensitive.
	if a := e.call(t, http.MethodGet, "/v1/me", "bearer "+e.accessToken(t), "", nil); a.resp.StatusCode != 200 {
		t.Errorf("lower-case bearer: status %d", a.resp.StatusCode)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)

	e.emu.RateLimit(2, "3")
	for range 2 {
		// Injected 429s come before authentication.
		a := e.call(t, http.MethodGet, "/v1/me", "", "", nil)
		wantAPIError(t, a, 429, "API rate limit exceeded")
		if got := a.resp.Header.Get("Retry-After"); got != "3" {
			t.Errorf("Retry-After %q, want 3", got)
		}
	}
	if a := e.get(t, "/v1/me", tok); a.resp.StatusCode != 200 {
		t.Fatalf("after the injected 429s: status %d", a.resp.StatusCode)
	}

	e.emu.RateLimit(1, "")
	a := e.get(t, "/v1/me", tok)
	wantAPIError(t, a, 429, "API rate limit exceeded")
	if _, ok := a.resp.Header["Retry-After"]; ok {
		t.Error("Retry-After sent although none was asked for")
	}

	e.emu.RateLimit(-1, "0")
	for range 3 {
		wantAPIError(t, e.get(t, "/v1/me", tok), 429, "API rate limit exceeded")
	}
	e.emu.ClearFailures()
	if a := e.get(t, "/v1/me", tok); a.resp.StatusCode != 200 {
		t.Fatalf("after ClearFailures: status %d", a.resp.StatusCode)
	}
	if st := e.emu.Stats(); st.RateLimited != 6 || st.APICalls != 8 {
		t.Errorf("stats %+v", st)
	}
}

func TestRevocation(t *testing.T) {
	e := newEnv(t, func(o *spotifyemu.Options) { o.Legacy401 = true })
	rt := e.emu.IssueRefreshToken("s")
	tok, err := e.refresh(t, rt)
	if err != nil {
		t.Fatal(err)
	}

	e.emu.RevokeAccessTokens()
	if e.emu.AccessTokenValid(tok.AccessToken) {
		t.Error("revoked access token still valid")
	}
	wantAPIError(t, e.get(t, "/v1/me", tok.AccessToken), 401, "Invalid access token")
	fresh, err := e.refresh(t, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if a := e.get(t, "/v1/me", fresh.AccessToken); a.resp.StatusCode != 200 {
		t.Errorf("token issued after revocation: status %d", a.resp.StatusCode)
	}

	e.emu.RevokeRefreshTokens()
	if n := e.emu.LiveRefreshTokens(); n != 0 {
		t.Errorf("LiveRefreshTokens = %d, want 0", n)
	}
	_, err = e.refresh(t, fresh.RefreshToken)
	wantRetrieveError(t, err, "invalid_grant", "Refresh token revoked")
	if !e.emu.RefreshTokenLive(e.emu.IssueRefreshToken("s")) {
		t.Error("a token issued after revocation must be live")
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func wantBodyHeaders(t *testing.T, a apiAnswer, body []byte) {
	t.Helper()
	if got := a.resp.Header.Get(spotifyemu.HeaderBodySHA256); got != sha(body) {
		t.Errorf("%s %q, want %q", spotifyemu.HeaderBodySHA256, got, sha(body))
	}
	if got := a.resp.Header.Get(spotifyemu.HeaderBodyLength); got != strconv.Itoa(len(body)) {
		t.Errorf("%s %q, want %d", spotifyemu.HeaderBodyLength, got, len(body))
	}
}

func TestEcho(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	body := []byte(`{"name":"a playlist"}`)
	a := e.call(t, http.MethodPost, "/v1/users/user-1/playlists?x=1&y=2", "Bearer "+tok, "application/json", bytes.NewReader(body))
	if a.resp.StatusCode != 200 {
		t.Fatalf("status %d %s", a.resp.StatusCode, a.body)
	}
	var got spotifyemu.Echo
	a.json(t, &got)
	want := spotifyemu.Echo{
		Method:      "POST",
		Path:        "/v1/users/user-1/playlists",
		Query:       "x=1&y=2",
		ContentType: "application/json",
		BodyLength:  int64(len(body)),
		BodySHA256:  sha(body),
		AccountUser: "user-1",
	}
	if got != want {
		t.Errorf("echo %+v\nwant %+v", got, want)
	}
	wantBodyHeaders(t, a, body)
	if ct := a.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestPlayer(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	if a := e.get(t, "/v1/me/player", tok); a.resp.StatusCode != 204 || len(a.body) != 0 {
		t.Errorf("GET /v1/me/player: %d %q, want an empty 204", a.resp.StatusCode, a.body)
	}
	body := []byte(`{"uris":["spotify:track:4iV5W9uYEdYUVa79Axb7Rh"]}`)
	for _, tc := range []struct{ method, path string }{
		{http.MethodPut, "/v1/me/player/play"},
		{http.MethodPut, "/v1/me/player/pause"},
		{http.MethodPost, "/v1/me/player/next"},
		{http.MethodPost, "/v1/me/player/queue?uri=spotify:track:x"},
		{http.MethodPut, "/v1/me/player/volume?volume_percent=50"},
		{http.MethodPut, "/v1/me/player"},
	} {
		a := e.call(t, tc.method, tc.path, "Bearer "+tok, "application/json", bytes.NewReader(body))
		if a.resp.StatusCode != 204 {
			t.Errorf("%s %s: status %d", tc.method, tc.path, a.resp.StatusCode)
		}
		wantBodyHeaders(t, a, body)
	}
}

func TestPlaylistImage(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	put := func(contentType string, n int) apiAnswer {
		return e.call(t, http.MethodPut, "/v1/playlists/pl1/images", "Bearer "+tok, contentType, bytes.NewReader(bytes.Repeat([]byte("A"), n)))
	}
	a := put("image/jpeg", spotifyemu.MaxImageBytes)
	if a.resp.StatusCode != 202 {
		t.Fatalf("status %d, want 202", a.resp.StatusCode)
	}
	wantBodyHeaders(t, a, bytes.Repeat([]byte("A"), spotifyemu.MaxImageBytes))
	wantAPIError(t, put("image/jpeg", spotifyemu.MaxImageBytes+1), 413, "Request entity too large")
	wantAPIError(t, put("application/json", 10), 400, "Content-Type must be image/jpeg")
}

func TestPlaylistItems(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	uris := func(n int) []byte {
		u := make([]string, n)
		for i := range u {
			u[i] = fmt.Sprintf("spotify:track:%d", i)
		}
		b, _ := json.Marshal(map[string]any{"uris": u})
		return b
	}
	post := func(path string, body []byte) apiAnswer {
		return e.call(t, http.MethodPost, path, "Bearer "+tok, "application/json", bytes.NewReader(body))
	}
	for _, path := range []string{"/v1/playlists/pl1/items", "/v1/playlists/pl1/tracks"} {
		body := uris(100)
		a := post(path, body)
		if a.resp.StatusCode != 201 {
			t.Fatalf("%s: status %d %s", path, a.resp.StatusCode, a.body)
		}
		var snap struct {
			SnapshotID string `json:"snapshot_id"`
		}
		a.json(t, &snap)
		if snap.SnapshotID == "" {
			t.Errorf("no snapshot_id: %s", a.body)
		}
		wantBodyHeaders(t, a, body)
	}
	wantAPIError(t, post("/v1/playlists/pl1/items", uris(101)), 400, "You can add a maximum of 100 tracks per request.")
	wantAPIError(t, post("/v1/playlists/pl1/items", []byte(`{"uris":`)), 400, "Error parsing JSON.")
	wantAPIError(t, post("/v1/playlists/pl1/items", []byte(`{}`)), 400, "No uris provided")
	if a := post("/v1/playlists/pl1/items?uris=spotify:track:a,spotify:track:b", nil); a.resp.StatusCode != 201 {
		t.Errorf("uris in the query: status %d", a.resp.StatusCode)
	}
}

func TestStream(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	const n = 100_000
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/_emulator/stream?bytes="+strconv.Itoa(n)+"&chunk=4096", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
		t.Fatalf("status %d Content-Length %d, want 200 without a length", resp.StatusCode, resp.ContentLength)
	}
	if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("Transfer-Encoding %v, want chunked", resp.TransferEncoding)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != n {
		t.Fatalf("read %d bytes, want %d", len(b), n)
	}
	for i, c := range b {
		if c != spotifyemu.StreamByte(int64(i)) {
			t.Fatalf("byte %d = %d, want %d", i, c, spotifyemu.StreamByte(int64(i)))
		}
	}

	wantAPIError(t, e.get(t, "/v1/_emulator/stream?bytes=-1", tok), 400, "bytes must be a non-negative integer")
	wantAPIError(t, e.call(t, http.MethodGet, "/v1/_emulator/stream?bytes=1", "", "", nil), 401, "Missing/invalid/expired access token")
}

func TestZmbSpotifyClientCurrentUser(t *testing.T) {
	e := newEnv(t, nil)
	rt := e.emu.IssueRefreshToken("user-read-private user-read-email")
	ctx := context.Background()
	httpClient := e.oauthConfig().Client(ctx, &oauth2.Token{RefreshToken: rt})
	// The base URL must end with a slash: the client appends "me".
	client := spotify.New(httpClient, spotify.WithBaseURL(e.srv.URL+"/v1/"))
	u, err := client.CurrentUser(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != "user-1" || u.DisplayName != "Emulated User 1" || u.Email != "user-1@example.invalid" ||
		u.Country != "SE" || u.Product != "premium" || u.URI != "spotify:user:user-1" ||
		u.ExternalURLs["spotify"] != "https://open.spotify.com/user/user-1" || u.Endpoint != e.srv.URL+"/v1/users/user-1" {
		t.Errorf("user %+v", u)
	}
	// The idle player decodes as "nothing playing".
	if _, err := client.PlayerState(ctx); err != nil {
		t.Errorf("PlayerState: %v", err)
	}
}

func TestUnknownPath(t *testing.T) {
	e := newEnv(t, nil)
	a := e.call(t, http.MethodGet, "/nope", "", "", nil)
	if a.resp.StatusCode != 404 || !strings.HasPrefix(a.resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d Content-Type %q", a.resp.StatusCode, a.resp.Header.Get("Content-Type"))
	}
	var body apiErrorBody
	a.json(t, &body)
	if body.Error.Status != 404 {
		t.Errorf("body %s", a.body)
	}
}

func TestTokensAreRandom(t *testing.T) {
	e := newEnv(t, nil)
	seen := map[string]bool{}
	for range 50 {
		for _, tok := range []string{e.accessToken(t), e.emu.IssueRefreshToken("")} {
			if seen[tok] || len(tok) < 40 {
				t.Fatalf("token %q repeated or short", tok)
			}
			seen[tok] = true
		}
	}
}

func TestExpiredAccessTokensAreForgottenAfterAnHour(t *testing.T) {
	e := newEnv(t, func(o *spotifyemu.Options) { o.Legacy401 = true; o.TokenLifetime = time.Minute })
	old := e.accessToken(t)
	e.clock.Add(30 * time.Minute)
	e.accessToken(t) // issuing sweeps, but old is within the grace
	wantAPIError(t, e.get(t, "/v1/me", old), 401, "The access token expired")
	e.clock.Add(2 * time.Hour)
	e.accessToken(t)
	wantAPIError(t, e.get(t, "/v1/me", old), 401, "Invalid access token")
}

// TestConcurrentUse runs calls and knob changes at once, for the race
// detector.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, nil)
	rts := make([]string, 4)
	for i := range rts {
		rts[i] = e.emu.IssueRefreshToken("s")
	}
	var wg sync.WaitGroup
	for i := range rts {
		wg.Go(func() {
			rt := rts[i]
			for range 20 {
				tok, err := e.refresh(t, rt)
				if err != nil {
					continue // revoked by the other goroutine: fine here
				}
				rt = tok.RefreshToken
				// Not e.call: t.Fatal must not run outside the test goroutine.
				req, _ := http.NewRequest(http.MethodPut, e.srv.URL+"/v1/me/player/play", strings.NewReader(`{}`))
				tok.SetAuthHeader(req)
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			e.emu.SetTokenLifetime(time.Duration(i+1) * time.Minute)
			e.emu.SetLegacy401(i%2 == 0)
			e.emu.SetRefreshPolicy(spotifyemu.RefreshPolicy(i % 3))
			e.emu.RateLimit(1, "1")
			e.emu.FailTokenEndpoint(503, 1)
			if i == 10 {
				e.emu.RevokeAccessTokens()
			}
			_ = e.emu.Stats()
			_ = e.emu.LiveRefreshTokens()
		}
	})
	wg.Wait()
	if st := e.emu.Stats(); st.TokenCalls != 80 {
		t.Errorf("TokenCalls = %d, want 80", st.TokenCalls)
	}
}
