package spotifyemu_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

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

// Every emulated user's first playlist is long enough to page through. The
// paging links are absolute URLs on the emulator's base URL, here a
// configured one.
func Example_paging() {
	emu := spotifyemu.New(spotifyemu.Options{ClientID: "id", ClientSecret: "secret", BaseURL: "https://emulator.example"})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	cfg := oauth2.Config{
		ClientID:     "id",
		ClientSecret: "secret",
		Endpoint:     oauth2.Endpoint{TokenURL: srv.URL + "/api/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	client := cfg.Client(context.Background(), &oauth2.Token{RefreshToken: emu.IssueRefreshToken("playlist-read-private")})
	get := func(path string, v any) {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			fmt.Println(err)
		}
	}

	var playlists struct {
		Total int `json:"total"`
		Items []struct {
			ID    string `json:"id"`
			Name  string `json:"name"`
			Items struct {
				Total int `json:"total"`
			} `json:"items"`
		} `json:"items"`
	}
	get("/v1/me/playlists", &playlists)
	first := playlists.Items[0]
	fmt.Println(playlists.Total, "playlists; the first:", first.Name, "with", first.Items.Total, "items")

	var page struct {
		Items  []json.RawMessage `json:"items"`
		Next   string            `json:"next"`
		Offset int               `json:"offset"`
	}
	get("/v1/playlists/"+first.ID+"/items?offset=20", &page)
	fmt.Println(len(page.Items), "items from offset", page.Offset)
	fmt.Println(strings.Replace(page.Next, first.ID, "{id}", 1))
	// Output:
	// 29 playlists; the first: Long Mix with 77 items
	// 20 items from offset 20
	// https://emulator.example/v1/playlists/{id}/items?offset=40&limit=20
}
