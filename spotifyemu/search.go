package spotifyemu

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
)

// searchResult is the answer of GET /v1/search: one page per asked type.
type searchResult struct {
	Albums     *page[simpleAlbum]     `json:"albums,omitempty"`
	Artists    *page[fullArtist]      `json:"artists,omitempty"`
	Audiobooks *page[json.RawMessage] `json:"audiobooks,omitempty"`
	Episodes   *page[json.RawMessage] `json:"episodes,omitempty"`
	Playlists  *page[simplePlaylist]  `json:"playlists,omitempty"`
	Shows      *page[json.RawMessage] `json:"shows,omitempty"`
	Tracks     *page[fullTrack]       `json:"tracks,omitempty"`
}

// search answers q (or query, the name Spotify's own next URLs use) for the
// comma-separated types. Results are a pure function of the lower-cased
// query and the type: albums, artists, playlists and tracks of the emulated
// catalog; shows, episodes and audiobooks are always empty.
func (c catalog) search(q url.Values, limit, offset int) (searchResult, string) {
	text := q.Get("q")
	if text == "" {
		text = q.Get("query")
	}
	if strings.TrimSpace(text) == "" {
		return searchResult{}, "No search query"
	}
	if q.Get("type") == "" {
		return searchResult{}, "Missing parameter type"
	}
	types := strings.Split(q.Get("type"), ",")
	for _, t := range types {
		switch t {
		case "album", "artist", "playlist", "track", "show", "episode", "audiobook":
		default:
			return searchResult{}, "Bad search type field " + t
		}
	}
	seed := userSeed(strings.ToLower(strings.TrimSpace(text)))
	kept := keptParams(q, "q", "query", "type")
	req := func(t string) pageReq {
		return pageReq{
			path:   "search",
			lead:   "query=" + url.QueryEscape(text) + "&type=" + t,
			limit:  limit,
			offset: offset,
			query:  kept,
		}
	}
	var res searchResult
	for _, t := range types {
		h := seeded(seed, uint64(len(t)), uint64(t[0]))
		switch t {
		case "track":
			res.Tracks = ptr(buildPage(c, req(t), 200+int(h%800), func(i int) fullTrack {
				return c.track(trackRef(seeded(h, uint64(i))))
			}))
		case "artist":
			res.Artists = ptr(buildPage(c, req(t), 5+int(h%100), func(i int) fullArtist {
				return c.artist((h + uint64(i)) % catalogArtists)
			}))
		case "album":
			res.Albums = ptr(buildPage(c, req(t), 20+int(h%300), func(i int) simpleAlbum {
				return c.simpleAlbum((h + 7*uint64(i)) % catalogAlbums)
			}))
		case "playlist":
			res.Playlists = ptr(buildPage(c, req(t), 10+int(h%200), func(i int) simplePlaylist {
				user := "user-" + strconv.FormatUint(1+(h+uint64(i))%100_000, 10)
				return c.simplePlaylist(user, int(seeded(h, uint64(i))%uint64(playlistCount(userSeed(user)))))
			}))
		case "show":
			res.Shows = ptr(buildPage(c, req(t), 0, func(int) json.RawMessage { return nil }))
		case "episode":
			res.Episodes = ptr(buildPage(c, req(t), 0, func(int) json.RawMessage { return nil }))
		case "audiobook":
			res.Audiobooks = ptr(buildPage(c, req(t), 0, func(int) json.RawMessage { return nil }))
		}
	}
	return res, ""
}
