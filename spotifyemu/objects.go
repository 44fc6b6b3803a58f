package spotifyemu

import (
	"net/url"
	"strconv"
	"time"
)

// Spotify's object shapes (see the OpenAPI description in
// testdata/openapi), built from the seeded catalog. base is the scheme://host
// that absolute Web API URLs start with.

type externalURLs struct {
	Spotify string `json:"spotify"`
}

type image struct {
	URL    string `json:"url"`
	Height *int   `json:"height"`
	Width  *int   `json:"width"`
}

type followers struct {
	Href  *string `json:"href"`
	Total int     `json:"total"`
}

type simpleArtist struct {
	ExternalURLs externalURLs `json:"external_urls"`
	Href         string       `json:"href"`
	ID           string       `json:"id"`
	Name         string       `json:"name"`
	Type         string       `json:"type"`
	URI          string       `json:"uri"`
}

type fullArtist struct {
	simpleArtist
	Followers  followers `json:"followers"`
	Genres     []string  `json:"genres"`
	Images     []image   `json:"images"`
	Popularity int       `json:"popularity"`
}

type simpleAlbum struct {
	AlbumType            string         `json:"album_type"`
	TotalTracks          int            `json:"total_tracks"`
	AvailableMarkets     []string       `json:"available_markets"`
	ExternalURLs         externalURLs   `json:"external_urls"`
	Href                 string         `json:"href"`
	ID                   string         `json:"id"`
	Images               []image        `json:"images"`
	Name                 string         `json:"name"`
	ReleaseDate          string         `json:"release_date"`
	ReleaseDatePrecision string         `json:"release_date_precision"`
	Type                 string         `json:"type"`
	URI                  string         `json:"uri"`
	Artists              []simpleArtist `json:"artists"`
}

type copyright struct {
	Text string `json:"text"`
	Type string `json:"type"`
}

type fullAlbum struct {
	simpleAlbum
	Tracks      page[simpleTrack] `json:"tracks"`
	Copyrights  []copyright       `json:"copyrights"`
	ExternalIDs map[string]string `json:"external_ids"`
	Genres      []string          `json:"genres"`
	Label       string            `json:"label"`
	Popularity  int               `json:"popularity"`
}

type simpleTrack struct {
	Artists          []simpleArtist `json:"artists"`
	AvailableMarkets []string       `json:"available_markets"`
	DiscNumber       int            `json:"disc_number"`
	DurationMS       int            `json:"duration_ms"`
	Explicit         bool           `json:"explicit"`
	ExternalURLs     externalURLs   `json:"external_urls"`
	Href             string         `json:"href"`
	ID               string         `json:"id"`
	IsPlayable       bool           `json:"is_playable"`
	Name             string         `json:"name"`
	PreviewURL       *string        `json:"preview_url"`
	TrackNumber      int            `json:"track_number"`
	Type             string         `json:"type"`
	URI              string         `json:"uri"`
	IsLocal          bool           `json:"is_local"`
}

type fullTrack struct {
	Album simpleAlbum `json:"album"`
	simpleTrack
	ExternalIDs map[string]string `json:"external_ids"`
	Popularity  int               `json:"popularity"`
}

type playlistUser struct {
	ExternalURLs externalURLs `json:"external_urls"`
	Href         string       `json:"href"`
	ID           string       `json:"id"`
	Type         string       `json:"type"`
	URI          string       `json:"uri"`
}

type playlistOwner struct {
	playlistUser
	DisplayName *string `json:"display_name"`
}

type tracksRef struct {
	Href  string `json:"href"`
	Total int    `json:"total"`
}

// playlistBase is what simplified and full playlists share.
type playlistBase struct {
	Collaborative bool          `json:"collaborative"`
	ExternalURLs  externalURLs  `json:"external_urls"`
	Href          string        `json:"href"`
	ID            string        `json:"id"`
	Images        []image       `json:"images"`
	Name          string        `json:"name"`
	Owner         playlistOwner `json:"owner"`
	Public        bool          `json:"public"`
	SnapshotID    string        `json:"snapshot_id"`
	Type          string        `json:"type"`
	URI           string        `json:"uri"`
}

// simplePlaylist carries both the 2026 "items" reference and the
// deprecated "tracks" one, as Spotify does while clients migrate.
type simplePlaylist struct {
	playlistBase
	Description string    `json:"description"`
	Items       tracksRef `json:"items"`
	Tracks      tracksRef `json:"tracks"`
}

type fullPlaylist struct {
	playlistBase
	Description *string             `json:"description"`
	Followers   followers           `json:"followers"`
	Items       page[playlistTrack] `json:"items"`
	Tracks      page[playlistTrack] `json:"tracks"`
}

// playlistTrack is a playlist entry with the 2026 "item" and the deprecated
// "track" field.
type playlistTrack struct {
	AddedAt string       `json:"added_at"`
	AddedBy playlistUser `json:"added_by"`
	IsLocal bool         `json:"is_local"`
	Item    fullTrack    `json:"item"`
	Track   fullTrack    `json:"track"`
}

type savedTrack struct {
	AddedAt string    `json:"added_at"`
	Track   fullTrack `json:"track"`
}

// catalog builds objects whose absolute URLs start with base.
type catalog struct {
	base string
}

func (c catalog) apiURL(path string) string { return c.base + "/v1/" + path }

func openURL(typ, id string) externalURLs {
	return externalURLs{Spotify: "https://open.spotify.com/" + typ + "/" + url.PathEscape(id)}
}

func (c catalog) simpleArtist(a uint64) simpleArtist {
	id := encodeID(kindArtist, a)
	return simpleArtist{
		ExternalURLs: openURL("artist", id),
		Href:         c.apiURL("artists/" + id),
		ID:           id,
		Name:         artistName(a),
		Type:         "artist",
		URI:          "spotify:artist:" + id,
	}
}

func (c catalog) artist(a uint64) fullArtist {
	h := seeded(uint64(kindArtist), a, 11)
	return fullArtist{
		simpleArtist: c.simpleArtist(a),
		Followers:    followers{Total: int(h % 2_000_000)},
		Genres:       []string{word(genres(), h>>8), word(genres(), h>>16)},
		Images:       images("ab676161", h),
		Popularity:   int(h>>24) % 101,
	}
}

func (c catalog) simpleAlbum(b uint64) simpleAlbum {
	id := encodeID(kindAlbum, b)
	h := seeded(uint64(kindAlbum), b, 11)
	n := albumTrackCount(b)
	typ := "album"
	switch {
	case n <= 5:
		typ = "single"
	case h%17 == 0:
		typ = "compilation"
	}
	released := time.Date(1970+int(h%56), time.Month(1+(h>>8)%12), 1+int((h>>16)%28), 0, 0, 0, 0, time.UTC)
	return simpleAlbum{
		AlbumType:            typ,
		TotalTracks:          n,
		AvailableMarkets:     markets(),
		ExternalURLs:         openURL("album", id),
		Href:                 c.apiURL("albums/" + id),
		ID:                   id,
		Images:               images("ab67616d", h),
		Name:                 albumName(b),
		ReleaseDate:          released.Format(time.DateOnly),
		ReleaseDatePrecision: "day",
		Type:                 "album",
		URI:                  "spotify:album:" + id,
		Artists:              []simpleArtist{c.simpleArtist(b % catalogArtists)},
	}
}

func (c catalog) album(b uint64, pg pageReq) fullAlbum {
	sa := c.simpleAlbum(b)
	h := seeded(uint64(kindAlbum), b, 12)
	year := sa.ReleaseDate[:4]
	return fullAlbum{
		simpleAlbum: sa,
		Tracks:      c.albumTracks(b, pg),
		Copyrights: []copyright{
			{Text: year + " Emulated Records", Type: "C"},
			{Text: year + " Emulated Records", Type: "P"},
		},
		ExternalIDs: map[string]string{"upc": strconv.FormatUint(100000000000+h%900000000000, 10)},
		Genres:      []string{},
		Label:       "Emulated Records",
		Popularity:  int(h>>8) % 101,
	}
}

func (c catalog) albumTracks(b uint64, pg pageReq) page[simpleTrack] {
	n := albumTrackCount(b)
	return buildPage(c, pg, n, func(i int) simpleTrack { return c.simpleTrack(b, i) })
}

func (c catalog) simpleTrack(b uint64, pos int) simpleTrack {
	id := encodeID(kindTrack, trackN(b, pos))
	h := seeded(uint64(kindTrack), trackN(b, pos), 11)
	return simpleTrack{
		Artists:          []simpleArtist{c.simpleArtist(b % catalogArtists)},
		AvailableMarkets: markets(),
		DiscNumber:       1,
		DurationMS:       120_000 + int(h%240_000),
		Explicit:         h%7 == 0,
		ExternalURLs:     openURL("track", id),
		Href:             c.apiURL("tracks/" + id),
		ID:               id,
		IsPlayable:       true,
		Name:             trackName(b, pos),
		TrackNumber:      pos + 1,
		Type:             "track",
		URI:              "spotify:track:" + id,
	}
}

func (c catalog) track(b uint64, pos int) fullTrack {
	h := seeded(uint64(kindTrack), trackN(b, pos), 12)
	return fullTrack{
		Album:       c.simpleAlbum(b),
		simpleTrack: c.simpleTrack(b, pos),
		ExternalIDs: map[string]string{"isrc": "SEEMU" + strconv.Itoa(10+int(h%90)) + strconv.Itoa(10000+int(h>>8)%90000)},
		Popularity:  int(h>>32) % 101,
	}
}

func (c catalog) playlistUser(user string) playlistUser {
	return playlistUser{
		ExternalURLs: openURL("user", user),
		Href:         c.apiURL("users/" + url.PathEscape(user)),
		ID:           user,
		Type:         "user",
		URI:          "spotify:user:" + user,
	}
}

func displayName(user string) string {
	n, _ := userNumber(user)
	return "Emulated User " + strconv.FormatUint(n, 10)
}

// playlistID is the id of playlist p of user number u.
func playlistID(u uint64, p int) string { return encodeID(kindPlaylist, u<<12|uint64(p)) }

// playlistOf decodes a playlist number into its owner and index.
func playlistOf(n uint64) (user string, p int, ok bool) {
	u := n >> 12
	user = "user-" + strconv.FormatUint(u, 10)
	p = int(n & 0xfff)
	return user, p, u > 0 && p < playlistCount(userSeed(user))
}

func (c catalog) playlistBase(user string, p int) playlistBase {
	u, _ := userNumber(user)
	seed := userSeed(user)
	id := playlistID(u, p)
	return playlistBase{
		ExternalURLs: openURL("playlist", id),
		Href:         c.apiURL("playlists/" + id),
		ID:           id,
		Images:       []image{{URL: imageURL("ab67706c0000da84", seeded(seed, 7, uint64(p)))}},
		Name:         playlistName(seed, p),
		Owner:        playlistOwner{playlistUser: c.playlistUser(user), DisplayName: ptr(displayName(user))},
		Public:       p%3 != 2,
		SnapshotID:   snapshotID(seed, p),
		Type:         "playlist",
		URI:          "spotify:playlist:" + id,
	}
}

func playlistDescription(p int) string {
	if p%4 == 3 {
		return ""
	}
	return "Emulated playlist number " + strconv.Itoa(p+1) + "."
}

func (c catalog) simplePlaylist(user string, p int) simplePlaylist {
	pb := c.playlistBase(user, p)
	n := playlistLength(userSeed(user), p)
	return simplePlaylist{
		playlistBase: pb,
		Description:  playlistDescription(p),
		Items:        tracksRef{Href: pb.Href + "/items", Total: n},
		Tracks:       tracksRef{Href: pb.Href + "/tracks", Total: n},
	}
}

// playlist is the full playlist with the first page of its entries embedded
// under "items" (limit 50, the /items maximum) and "tracks" (limit 100).
func (c catalog) playlist(user string, p int) fullPlaylist {
	pb := c.playlistBase(user, p)
	desc := playlistDescription(p)
	var description *string
	if desc != "" {
		description = &desc
	}
	return fullPlaylist{
		playlistBase: pb,
		Description:  description,
		Followers:    followers{Total: int(seeded(userSeed(user), 8, uint64(p)) % 5000)},
		Items:        c.playlistTracks(user, p, pageReq{path: "playlists/" + pb.ID + "/items", limit: 50}),
		Tracks:       c.playlistTracks(user, p, pageReq{path: "playlists/" + pb.ID + "/tracks", limit: 100}),
	}
}

func (c catalog) playlistTracks(user string, p int, pg pageReq) page[playlistTrack] {
	seed := userSeed(user)
	n := playlistLength(seed, p)
	adder := c.playlistUser(user)
	created := libraryEpoch().Add(time.Duration(seeded(seed, 9, uint64(p))%(300*24)) * time.Hour)
	return buildPage(c, pg, n, func(i int) playlistTrack {
		h := seeded(seed, 10, uint64(p), uint64(i))
		t := c.track(trackRef(h))
		return playlistTrack{
			AddedAt: timestamp(created.Add(time.Duration(i)*37*time.Hour + time.Duration(h%3600)*time.Second)),
			AddedBy: adder,
			Item:    t,
			Track:   t,
		}
	})
}

func (c catalog) savedTracks(user string, pg pageReq) page[savedTrack] {
	seed := userSeed(user)
	return buildPage(c, pg, savedTrackCount(seed), func(i int) savedTrack {
		h := seeded(seed, 11, uint64(i))
		return savedTrack{
			AddedAt: timestamp(savedEpoch().Add(-time.Duration(i)*29*time.Hour - time.Duration(h%3600)*time.Second)),
			Track:   c.track(trackRef(h)),
		}
	})
}

func (c catalog) myPlaylists(user string, pg pageReq) page[simplePlaylist] {
	return buildPage(c, pg, playlistCount(userSeed(user)), func(i int) simplePlaylist { return c.simplePlaylist(user, i) })
}
