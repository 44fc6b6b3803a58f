package spotifyemu

import (
	"net/url"
	"strings"
)

// User is the answer of GET /v1/me (Spotify's private user object).
type User struct {
	ID           string            `json:"id"`
	DisplayName  string            `json:"display_name"`
	Type         string            `json:"type"`
	URI          string            `json:"uri"`
	Country      string            `json:"country"`
	Product      string            `json:"product"`
	Email        string            `json:"email"`
	Followers    Followers         `json:"followers"`
	Images       []any             `json:"images"`
	ExternalURLs map[string]string `json:"external_urls"`
	Href         string            `json:"href"`
}

// Followers is the followers object of [User].
type Followers struct {
	Href  *string `json:"href"`
	Total int     `json:"total"`
}

func newUser(id, base string) User {
	n := strings.TrimPrefix(id, "user-")
	return User{
		ID:           id,
		DisplayName:  "Emulated User " + n,
		Type:         "user",
		URI:          "spotify:user:" + id,
		Country:      "SE",
		Product:      "premium",
		Email:        id + "@example.invalid",
		Images:       []any{},
		ExternalURLs: map[string]string{"spotify": "https://open.spotify.com/user/" + url.PathEscape(id)},
		Href:         base + "/v1/users/" + url.PathEscape(id),
	}
}
