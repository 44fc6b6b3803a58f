package spotifyemu_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"golang.org/x/oauth2"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

// A test serves the emulator, authorises a user, refreshes with
// golang.org/x/oauth2 and calls the Web API with the access token.
func Example() {
	emu := spotifyemu.New(spotifyemu.Options{ClientID: "id", ClientSecret: "secret"})
	srv := httptest.NewServer(emu) // one URL for the accounts service and the Web API
	defer srv.Close()

	refreshToken := emu.IssueRefreshToken("user-read-private")
	cfg := oauth2.Config{
		ClientID:     "id",
		ClientSecret: "secret",
		Endpoint:     oauth2.Endpoint{TokenURL: srv.URL + "/api/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	tok, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("rotated:", tok.RefreshToken != refreshToken, "old live:", emu.RefreshTokenLive(refreshToken))

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/me", nil)
	tok.SetAuthHeader(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var me spotifyemu.User
	if err := json.NewDecoder(resp.Body).Decode(&me); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, me.ID, me.DisplayName)
	fmt.Println(emu.Stats().RefreshCalls, "refresh,", emu.Stats().APICalls, "API call")
	// Output:
	// rotated: true old live: false
	// 200 user-1 Emulated User 1
	// 1 refresh, 1 API call
}
