package spotifyemu_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/zmb3/spotify/v2"
	"golang.org/x/oauth2"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

// pageOf is Spotify's paging object with the items left raw.
type pageOf struct {
	Href     string  `json:"href"`
	Items    []json0 `json:"items"`
	Limit    int     `json:"limit"`
	Next     *string `json:"next"`
	Offset   int     `json:"offset"`
	Previous *string `json:"previous"`
	Total    int     `json:"total"`
}

// json0 is one item, decoded as far as the tests look.
type json0 struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	AddedAt string `json:"added_at"`
	Item    struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"item"`
	Track struct {
		ID string `json:"id"`
	} `json:"track"`
	Items struct {
		Href  string `json:"href"`
		Total int    `json:"total"`
	} `json:"items"`
}

// getURL GETs an absolute URL (a next or previous link) with tok.
func (e *env) getURL(t *testing.T, u, tok string) apiAnswer {
	t.Helper()
	path, ok := strings.CutPrefix(u, e.srv.URL)
	if !ok {
		t.Fatalf("URL %q is not on the emulator's base URL %s", u, e.srv.URL)
	}
	return e.get(t, path, tok)
}

func TestPagingThroughAPlaylist(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	var pls pageOf
	e.get(t, "/v1/me/playlists", tok).json(t, &pls)
	long := pls.Items[0]
	if long.Name != "Long Mix" || long.Items.Total < 61 {
		t.Fatalf("first playlist %+v, want the long one (61+ items)", long)
	}
	if want := e.srv.URL + "/v1/playlists/" + long.ID + "/items"; long.Items.Href != want {
		t.Errorf("items href %q, want %q", long.Items.Href, want)
	}

	next := e.srv.URL + "/v1/playlists/" + long.ID + "/items"
	var prev *string
	seen := map[int]string{}
	pages := 0
	for next != "" {
		var pg pageOf
		a := e.getURL(t, next, tok)
		if a.resp.StatusCode != 200 {
			t.Fatalf("page %d: %d %s", pages, a.resp.StatusCode, a.body)
		}
		a.json(t, &pg)
		wantOffset := pages * 20
		wantHref := e.srv.URL + "/v1/playlists/" + long.ID + "/items?offset=" + strconv.Itoa(wantOffset) + "&limit=20"
		if pg.Href != wantHref || pg.Limit != 20 || pg.Offset != wantOffset || pg.Total != long.Items.Total {
			t.Fatalf("page %d: href %q limit %d offset %d total %d, want %q 20 %d %d",
				pages, pg.Href, pg.Limit, pg.Offset, pg.Total, wantHref, wantOffset, long.Items.Total)
		}
		if (pages == 0) != (pg.Previous == nil) || (prev != nil && pages > 0 && *pg.Previous != *prev) {
			t.Fatalf("page %d: previous %v, want the page before (%v)", pages, pg.Previous, prev)
		}
		for i, it := range pg.Items {
			if it.Item.Type != "track" || it.Item.ID == "" || it.Item.ID != it.Track.ID || it.AddedAt == "" {
				t.Fatalf("page %d item %d: %+v", pages, i, it)
			}
			seen[pg.Offset+i] = it.Item.ID
		}
		h := pg.Href
		prev = &h
		next = ""
		if pg.Next != nil {
			next = *pg.Next
			if len(pg.Items) != 20 {
				t.Fatalf("page %d has %d items and a next page", pages, len(pg.Items))
			}
		}
		pages++
	}
	if pages < 4 || len(seen) != long.Items.Total {
		t.Fatalf("%d pages with %d items, want 4+ pages and all %d items", pages, len(seen), long.Items.Total)
	}

	// The older /tracks path pages the same entries, up to 100 at a time.
	var all pageOf
	e.get(t, "/v1/playlists/"+long.ID+"/tracks?limit=100", tok).json(t, &all)
	if len(all.Items) != long.Items.Total || all.Next != nil {
		t.Fatalf("/tracks?limit=100: %d items, next %v", len(all.Items), all.Next)
	}
	for i, it := range all.Items {
		if it.Track.ID != seen[i] {
			t.Fatalf("/tracks item %d is %s, /items had %s", i, it.Track.ID, seen[i])
		}
	}
}

func TestPagingLimitsAndOffsets(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	var pls pageOf
	e.get(t, "/v1/me/playlists", tok).json(t, &pls)
	items := "/v1/playlists/" + pls.Items[0].ID + "/items"
	total := pls.Items[0].Items.Total

	for _, tc := range []struct {
		name, path string
		limit      int // 0: an error is wanted
		offset     int
		msg        string
	}{
		{"default limit", "/v1/me/tracks", 20, 0, ""},
		{"maximum limit", "/v1/me/tracks?limit=50", 50, 0, ""},
		{"limit over the maximum", "/v1/me/tracks?limit=51", 0, 0, "Invalid limit"},
		{"zero limit", "/v1/me/playlists?limit=0", 0, 0, "Invalid limit"},
		{"negative limit", "/v1/me/playlists?limit=-5", 0, 0, "Invalid limit"},
		{"limit not a number", items + "?limit=ten", 0, 0, "Invalid limit"},
		{"items maximum is 50", items + "?limit=100", 0, 0, "Invalid limit"},
		{"the older tracks path allows 100", "/v1/playlists/" + pls.Items[0].ID + "/tracks?limit=100", 100, 0, ""},
		{"negative offset", items + "?offset=-1", 0, 0, "Invalid offset"},
		{"offset not a number", items + "?offset=x", 0, 0, "Invalid offset"},
		{"playlists offset maximum", "/v1/me/playlists?offset=100001", 0, 0, "Invalid offset"},
		{"search default limit is 5", "/v1/search?q=a&type=track", 5, 0, ""},
		{"search maximum limit is 10", "/v1/search?q=a&type=track&limit=11", 0, 0, "Invalid limit"},
		{"search maximum offset is 1000", "/v1/search?q=a&type=track&offset=1001", 0, 0, "Invalid offset"},
		{"album tracks", "/v1/albums/" + strings.Repeat("0", 22) + "/tracks?limit=51", 0, 0, "Invalid limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.get(t, tc.path, tok)
			if tc.limit == 0 {
				wantAPIError(t, a, 400, tc.msg)
				return
			}
			var pg pageOf
			if strings.HasPrefix(tc.path, "/v1/search") {
				var res struct{ Tracks pageOf }
				a.json(t, &res)
				pg = res.Tracks
			} else {
				a.json(t, &pg)
			}
			if a.resp.StatusCode != 200 || pg.Limit != tc.limit || len(pg.Items) != min(tc.limit, pg.Total) {
				t.Fatalf("%d: limit %d with %d of %d items, want limit %d", a.resp.StatusCode, pg.Limit, len(pg.Items), pg.Total, tc.limit)
			}
		})
	}

	// Past the end: an empty page that points back, not an error.
	var pg pageOf
	e.get(t, items+"?offset=500&limit=10", tok).json(t, &pg)
	if len(pg.Items) != 0 || pg.Next != nil || pg.Previous == nil || pg.Total != total ||
		*pg.Previous != e.srv.URL+items+"?offset=490&limit=10" {
		t.Fatalf("offset past the end: %+v", pg)
	}
	// Other parameters are kept in the page links.
	e.get(t, items+"?market=SE&limit=5&offset=5", tok).json(t, &pg)
	if want := e.srv.URL + items + "?offset=10&limit=5&market=SE"; pg.Next == nil || *pg.Next != want {
		t.Fatalf("next %v, want %s", pg.Next, want)
	}
	if want := e.srv.URL + items + "?offset=0&limit=5&market=SE"; pg.Previous == nil || *pg.Previous != want {
		t.Fatalf("previous %v, want %s", pg.Previous, want)
	}
}

// Each user's library is a pure function of the user id: the same in
// another emulator, different for another user.
func TestLibrariesAreSeededPerUser(t *testing.T) {
	fixed := func(o *spotifyemu.Options) { o.BaseURL = "https://emulator.example/" }
	a, b := newEnv(t, fixed), newEnv(t, fixed)
	tokA1, tokB1 := a.accessToken(t), b.accessToken(t) // user-1 in both
	tokA2 := a.accessToken(t)                          // user-2
	for _, path := range []string{"/v1/me/playlists?limit=50", "/v1/me/tracks", "/v1/search?q=Abba&type=track,album"} {
		one, other := a.get(t, path, tokA1), b.get(t, path, tokB1)
		if one.resp.StatusCode != 200 || !bytes.Equal(one.body, other.body) {
			t.Errorf("%s differs between two emulators for user-1", path)
		}
		if !bytes.Contains(one.body, []byte(`"https://emulator.example/v1/`)) || bytes.Contains(one.body, []byte(a.srv.URL)) {
			t.Errorf("%s: URLs not on the configured base URL", path)
		}
	}
	if bytes.Equal(a.get(t, "/v1/me/playlists", tokA1).body, a.get(t, "/v1/me/playlists", tokA2).body) {
		t.Error("user-1 and user-2 have the same playlists")
	}
	// The search results depend on the query, not on the user or its case.
	var lower, upper struct{ Tracks pageOf }
	a.get(t, "/v1/search?q=abba&type=track", tokA1).json(t, &lower)
	a.get(t, "/v1/search?q=ABBA&type=track", tokA2).json(t, &upper)
	if lower.Tracks.Total != upper.Tracks.Total || len(lower.Tracks.Items) == 0 || lower.Tracks.Items[0].ID != upper.Tracks.Items[0].ID {
		t.Error("search results differ by user or by case")
	}
}

// Ids in answers resolve to the same objects at their own endpoints.
func TestObjectsAreConsistent(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	ids := catalogIDs(t, e, tok)

	type track struct {
		ID, Name, Href string
		Album          struct{ ID, Name string }
		Artists        []struct{ ID, Name string }
	}
	var tr track
	e.get(t, "/v1/tracks/"+ids.track, tok).json(t, &tr)
	if tr.ID != ids.track || tr.Href != e.srv.URL+"/v1/tracks/"+ids.track || tr.Album.ID != ids.album {
		t.Fatalf("track %+v", tr)
	}
	var album struct {
		Name   string
		Tracks struct {
			Total int
			Items []struct{ ID string }
		}
	}
	e.get(t, "/v1/albums/"+ids.album, tok).json(t, &album)
	found := false
	for _, it := range album.Tracks.Items {
		found = found || it.ID == ids.track
	}
	if album.Name != tr.Album.Name || !found || album.Tracks.Total != len(album.Tracks.Items) {
		t.Fatalf("album %+v does not list track %s", album, ids.track)
	}
	var artist struct{ ID, Name string }
	e.get(t, "/v1/artists/"+ids.artist, tok).json(t, &artist)
	if artist.ID != ids.artist || artist.Name != tr.Artists[0].Name {
		t.Fatalf("artist %+v, track's artist %+v", artist, tr.Artists)
	}
	var pl struct {
		ID    string
		Owner struct{ ID string }
		Items pageOf
	}
	e.get(t, "/v1/playlists/"+ids.playlist, tok).json(t, &pl)
	if pl.ID != ids.playlist || pl.Owner.ID != "user-1" || pl.Items.Limit != 50 || len(pl.Items.Items) != 50 || pl.Items.Items[0].Item.ID != ids.track {
		t.Fatalf("playlist %s: owner %q, items limit %d with %d", pl.ID, pl.Owner.ID, pl.Items.Limit, len(pl.Items.Items))
	}

	// Another user, and an app token, read the same public catalog and playlist.
	other := e.accessToken(t)
	if !bytes.Equal(e.get(t, "/v1/playlists/"+ids.playlist, other).body, e.get(t, "/v1/playlists/"+ids.playlist, tok).body) {
		t.Error("the playlist reads differently for another user")
	}

	wantAPIError(t, e.get(t, "/v1/tracks/short", tok), 400, "Invalid base62 id")
	wantAPIError(t, e.get(t, "/v1/tracks/"+strings.Repeat("z", 22), tok), 404, "Resource not found")
	wantAPIError(t, e.get(t, "/v1/tracks/"+ids.album, tok), 404, "Resource not found")
	wantAPIError(t, e.get(t, "/v1/playlists/"+ids.track+"/items", tok), 404, "Resource not found")
}

func TestClientCredentialsReadTheCatalog(t *testing.T) {
	e := newEnv(t, nil)
	ids := catalogIDs(t, e, e.accessToken(t))
	a := e.postForm(t, url.Values{"grant_type": {"client_credentials"}}, true)
	cc := a.str("access_token")
	if a.status != 200 || cc == "" {
		t.Fatalf("client credentials: %d %v", a.status, a.body)
	}
	for _, path := range []string{"/v1/tracks/" + ids.track, "/v1/playlists/" + ids.playlist + "/items", "/v1/search?q=x&type=artist"} {
		if a := e.get(t, path, cc); a.resp.StatusCode != 200 {
			t.Errorf("%s with an app token: %d", path, a.resp.StatusCode)
		}
	}
	wantAPIError(t, e.get(t, "/v1/me/tracks", cc), 403, "Insufficient client scope")
}

func TestSearch(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	var res struct {
		Tracks, Artists, Albums, Playlists, Shows, Episodes, Audiobooks *pageOf
	}
	e.get(t, "/v1/search?q=blue+moon&type=track,artist,album,playlist,show,episode,audiobook&limit=10", tok).json(t, &res)
	for name, pg := range map[string]*pageOf{"tracks": res.Tracks, "artists": res.Artists, "albums": res.Albums, "playlists": res.Playlists} {
		if pg == nil || pg.Total == 0 || len(pg.Items) != 10 || pg.Next == nil {
			t.Fatalf("%s: %+v", name, pg)
		}
	}
	for name, pg := range map[string]*pageOf{"shows": res.Shows, "episodes": res.Episodes, "audiobooks": res.Audiobooks} {
		if pg == nil || pg.Total != 0 || len(pg.Items) != 0 {
			t.Fatalf("%s: %+v, want an empty page", name, pg)
		}
	}
	// Like Spotify's, the next link names the query "query" and carries one type.
	want := e.srv.URL + "/v1/search?query=blue+moon&type=track&offset=10&limit=10"
	if *res.Tracks.Next != want {
		t.Fatalf("next %q, want %q", *res.Tracks.Next, want)
	}
	var second struct{ Tracks pageOf }
	e.getURL(t, *res.Tracks.Next, tok).json(t, &second)
	if second.Tracks.Offset != 10 || len(second.Tracks.Items) != 10 || second.Tracks.Items[0].ID == res.Tracks.Items[0].ID {
		t.Fatalf("following next: %+v", second.Tracks)
	}
	// Only the asked types are answered.
	var one map[string]any
	e.get(t, "/v1/search?q=x&type=album", tok).json(t, &one)
	if _, ok := one["albums"]; !ok || len(one) != 1 {
		t.Fatalf("type=album answered %v", one)
	}
	wantAPIError(t, e.get(t, "/v1/search?type=track", tok), 400, "No search query")
	wantAPIError(t, e.get(t, "/v1/search?q=x", tok), 400, "Missing parameter type")
	wantAPIError(t, e.get(t, "/v1/search?q=x&type=song", tok), 400, "Bad search type field song")
}

// Like Spotify, the Web API ignores one trailing slash.
func TestTrailingSlash(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	for _, path := range []string{"/v1/me", "/v1/me/playlists", "/v1/search?q=x&type=track", "/v1/me/tracks?limit=3"} {
		slashed := strings.Replace(path, "?", "/?", 1)
		if !strings.Contains(path, "?") {
			slashed = path + "/"
		}
		plain, withSlash := e.get(t, path, tok), e.get(t, slashed, tok)
		if withSlash.resp.StatusCode != 200 || !bytes.Equal(plain.body, withSlash.body) {
			t.Errorf("%s answered %d %.200s, want the answer of %s", slashed, withSlash.resp.StatusCode, withSlash.body, path)
		}
	}
	if a := e.get(t, "/v1/me/player/", tok); a.resp.StatusCode != 204 {
		t.Errorf("/v1/me/player/: %d", a.resp.StatusCode)
	}
}

func TestAddItemsBodies(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	post := func(path, body string) apiAnswer {
		return e.call(t, http.MethodPost, path, "Bearer "+tok, "application/json", strings.NewReader(body))
	}
	for _, tc := range []struct{ name, path, body string }{
		{"object", "/v1/playlists/pl1/items", `{"uris":["spotify:track:a"],"position":0}`},
		{"bare array", "/v1/playlists/pl1/items", `["spotify:track:a","spotify:episode:b"]`},
		{"bare array with space", "/v1/playlists/pl1/items", " \n [\"spotify:track:a\"]"},
		{"bare array, older path", "/v1/playlists/pl1/tracks", `["spotify:track:a"]`},
		{"trailing slash", "/v1/playlists/pl1/items/", `["spotify:track:a"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := post(tc.path, tc.body)
			var snap struct {
				SnapshotID string `json:"snapshot_id"`
			}
			if a.resp.StatusCode != 201 {
				t.Fatalf("status %d %s, want 201", a.resp.StatusCode, a.body)
			}
			a.json(t, &snap)
			if snap.SnapshotID == "" {
				t.Fatalf("no snapshot_id: %s", a.body)
			}
		})
	}
	many := "[" + strings.TrimSuffix(strings.Repeat(`"spotify:track:a",`, 101), ",") + "]"
	wantAPIError(t, post("/v1/playlists/pl1/items", many), 400, "You can add a maximum of 100 tracks per request.")
	wantAPIError(t, post("/v1/playlists/pl1/items", `["spotify:track:a",`), 400, "Error parsing JSON.")
	wantAPIError(t, post("/v1/playlists/pl1/items", `[1,2]`), 400, "Error parsing JSON.")
	// The query's uris win over the body, as at Spotify.
	if a := post("/v1/playlists/pl1/items?uris=spotify:track:a", many); a.resp.StatusCode != 201 {
		t.Errorf("uris in the query with a long body: %d %s", a.resp.StatusCode, a.body)
	}
}

func TestGzip(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	// A transport that leaves Accept-Encoding and the body alone.
	raw := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(raw.CloseIdleConnections)
	get := func(path, acceptEncoding string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if acceptEncoding != "" {
			req.Header.Set("Accept-Encoding", acceptEncoding)
		}
		resp, err := raw.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	const path = "/v1/me/playlists?limit=50"
	_, plain := get(path, "")
	for _, ae := range []string{"gzip", "gzip, deflate, br", "br;q=1.0, GZIP;q=0.5", "*"} {
		resp, b := get(path, ae)
		if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q Vary %q", ae, resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
		}
		if resp.Header.Get("Content-Length") != strconv.Itoa(len(b)) || len(b) >= len(plain) {
			t.Fatalf("Accept-Encoding %q: Content-Length %q for %d bytes (plain %d)", ae, resp.Header.Get("Content-Length"), len(b), len(plain))
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		unzipped, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(unzipped, plain) {
			t.Fatalf("Accept-Encoding %q: the gzip body does not decode to the plain answer (%v)", ae, err)
		}
	}
	for _, ae := range []string{"", "identity", "gzip;q=0", "br"} {
		resp, b := get(path, ae)
		if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, plain) || resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q Vary %q", ae, resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
		}
	}
	// Small answers stay plain.
	if resp, _ := get("/v1/me", "gzip"); resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("/v1/me gzip-encoded")
	}
	// A gzip-encoded playlist carries the weak form of the plain one's ETag.
	var pls pageOf
	a := e.get(t, "/v1/me/playlists", tok)
	a.json(t, &pls)
	plainResp, _ := get("/v1/playlists/"+pls.Items[0].ID, "")
	zipResp, _ := get("/v1/playlists/"+pls.Items[0].ID, "gzip")
	strong := plainResp.Header.Get("ETag")
	if !strings.HasPrefix(strong, `"`) || zipResp.Header.Get("ETag") != "W/"+strong {
		t.Errorf("ETag plain %q, gzip %q", strong, zipResp.Header.Get("ETag"))
	}
}

// The emulator's URLs use the scheme and Host the request came to.
func TestBaseURLFollowsTheRequest(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/me/tracks?limit=1", nil)
	req.Host = "spotify.internal:8443"
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(b, []byte(`"href":"http://spotify.internal:8443/v1/me/tracks?offset=0&limit=1"`)) {
		t.Errorf("href not on the request's host: %.300s", b)
	}

	emu := spotifyemu.New(spotifyemu.Options{ClientID: testClientID, ClientSecret: testClientSecret})
	tls := httptest.NewTLSServer(emu)
	t.Cleanup(tls.Close)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, tls.Client())
	conf := oauth2.Config{ClientID: testClientID, ClientSecret: testClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: tls.URL + "/api/token", AuthStyle: oauth2.AuthStyleInHeader}}
	client := spotify.New(conf.Client(ctx, &oauth2.Token{RefreshToken: emu.IssueRefreshToken("")}), spotify.WithBaseURL(tls.URL+"/v1/"))
	page, err := client.CurrentUsersTracks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(page.Next, "https://") || !strings.HasPrefix(page.Next, tls.URL+"/v1/me/tracks?") {
		t.Errorf("next %q, want it on %s", page.Next, tls.URL)
	}
}

// zmb3/spotify, pointed at the emulator, pages a playlist with NextPage
// and decodes every modelled object.
func TestZmbSpotifyClientPagesAPlaylist(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	httpClient := e.oauthConfig().Client(ctx, &oauth2.Token{RefreshToken: e.emu.IssueRefreshToken("playlist-read-private user-library-read")})
	client := spotify.New(httpClient, spotify.WithBaseURL(e.srv.URL+"/v1/"))

	pls, err := client.CurrentUsersPlaylists(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pls.Playlists) != 20 || pls.Total <= 20 || pls.Next == "" {
		t.Fatalf("playlists page: %d of %d, next %q", len(pls.Playlists), pls.Total, pls.Next)
	}
	long := pls.Playlists[0]
	items, err := client.GetPlaylistItems(ctx, long.ID)
	if err != nil {
		t.Fatal(err)
	}
	total := int(items.Total)
	got, pages := 0, 0
	ids := map[string]bool{}
	for {
		pages++
		for _, it := range items.Items {
			if it.Track.Track == nil || it.Track.Track.ID == "" || it.Track.Track.Album.ID == "" {
				t.Fatalf("page %d: item %+v", pages, it)
			}
			ids[string(it.Track.Track.ID)] = true
		}
		got += len(items.Items)
		err := client.NextPage(ctx, items)
		if errors.Is(err, spotify.ErrNoMorePages) {
			break
		}
		if err != nil {
			t.Fatalf("NextPage after page %d: %v", pages, err)
		}
	}
	if pages < 3 || got != total || total != int(long.Tracks.Total) {
		t.Fatalf("%d pages, %d items, want 3+ pages and all %d (%d in the playlist summary)", pages, got, total, long.Tracks.Total)
	}

	tr, err := client.GetTrack(ctx, spotify.ID(firstKey(ids)))
	if err != nil || tr.Album.ID == "" || len(tr.Artists) == 0 || tr.Duration == 0 {
		t.Fatalf("GetTrack: %v %+v", err, tr)
	}
	al, err := client.GetAlbum(ctx, tr.Album.ID)
	if err != nil || al.Tracks.Total == 0 || al.Name != tr.Album.Name {
		t.Fatalf("GetAlbum: %v %+v", err, al)
	}
	ar, err := client.GetArtist(ctx, tr.Artists[0].ID)
	if err != nil || ar.Name != tr.Artists[0].Name {
		t.Fatalf("GetArtist: %v %+v", err, ar)
	}
	pl, err := client.GetPlaylist(ctx, long.ID)
	if err != nil || pl.Name != long.Name || len(pl.Tracks.Tracks) != min(total, 100) {
		t.Fatalf("GetPlaylist: %v %q with %d tracks", err, pl.Name, len(pl.Tracks.Tracks))
	}
	saved, err := client.CurrentUsersTracks(ctx, spotify.Limit(50))
	if err != nil || len(saved.Tracks) != 50 || saved.Tracks[0].AddedAt == "" {
		t.Fatalf("CurrentUsersTracks: %v", err)
	}
	res, err := client.Search(ctx, "blue", spotify.SearchTypeTrack|spotify.SearchTypeArtist, spotify.Limit(10))
	if err != nil || len(res.Tracks.Tracks) != 10 || len(res.Artists.Artists) == 0 {
		t.Fatalf("Search: %v", err)
	}
	if err := client.NextTrackResults(ctx, res); err != nil || res.Tracks.Offset != 10 || len(res.Tracks.Tracks) != 10 {
		t.Fatalf("NextTrackResults: %v (offset %d)", err, res.Tracks.Offset)
	}
	if _, err := client.AddTracksToPlaylist(ctx, long.ID, tr.ID); err != nil {
		t.Fatalf("AddTracksToPlaylist: %v", err)
	}
}

func firstKey(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}

// Playlist answers carry an ETag and honour If-None-Match with 304, as
// Spotify's do; answers say Cache-Control: private, max-age=0.
func TestPlaylistETag(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	ids := catalogIDs(t, e, tok)
	getIfNoneMatch := func(path, inm string) apiAnswer {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return apiAnswer{resp: resp, body: b}
	}
	tags := map[string]bool{}
	for _, path := range []string{"/v1/playlists/" + ids.playlist, "/v1/playlists/" + ids.playlist + "/items?limit=5", "/v1/playlists/" + ids.playlist + "/items?limit=6"} {
		first := getIfNoneMatch(path, "")
		tag := first.resp.Header.Get("ETag")
		if first.resp.StatusCode != 200 || tag == "" || first.resp.Header.Get("Cache-Control") != "private, max-age=0" {
			t.Fatalf("%s: %d ETag %q Cache-Control %q", path, first.resp.StatusCode, tag, first.resp.Header.Get("Cache-Control"))
		}
		if again := getIfNoneMatch(path, ""); again.resp.Header.Get("ETag") != tag {
			t.Fatalf("%s: ETag changed from %q to %q", path, tag, again.resp.Header.Get("ETag"))
		}
		for _, inm := range []string{tag, `"other", ` + tag, "*"} {
			nm := getIfNoneMatch(path, inm)
			if nm.resp.StatusCode != 304 || len(nm.body) != 0 || nm.resp.Header.Get("ETag") != tag {
				t.Fatalf("%s If-None-Match %s: %d %q ETag %q, want an empty 304", path, inm, nm.resp.StatusCode, nm.body, nm.resp.Header.Get("ETag"))
			}
		}
		if other := getIfNoneMatch(path, `"other"`); other.resp.StatusCode != 200 || !bytes.Equal(other.body, first.body) {
			t.Fatalf("%s with a stale ETag: %d", path, other.resp.StatusCode)
		}
		tags[tag] = true
	}
	if len(tags) != 3 {
		t.Fatalf("different answers share an ETag: %v", tags)
	}
	// Catalog objects have no ETag.
	if a := e.get(t, "/v1/tracks/"+ids.track, tok); a.resp.Header.Get("ETag") != "" {
		t.Errorf("track answer has an ETag")
	}
}
