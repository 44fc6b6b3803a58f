package spotifyemu

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Limits of the Web API calls that carry bodies.
const (
	MaxImageBytes   = 256 << 10 // PUT /v1/playlists/{id}/images (base64 JPEG text)
	MaxItemsPerCall = 100       // POST /v1/playlists/{id}/items
	maxItemsBody    = 1 << 20
	streamChunk     = 16 << 10
)

// Echo header names set on every authenticated /v1/ answer (the body read
// may be empty).
const (
	HeaderBodySHA256 = "X-Emulator-Body-Sha256"
	HeaderBodyLength = "X-Emulator-Body-Length"
)

// Echo is the JSON answer of /v1/ paths that have no behaviour of their own.
type Echo struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	Query       string `json:"query"`
	ContentType string `json:"content_type"`
	BodyLength  int64  `json:"body_length"`
	BodySHA256  string `json:"body_sha256"`
	AccountUser string `json:"account_user"` // "user-N", or "app" for client credentials
}

type route int

const (
	routeEcho route = iota
	routeMe
	routePlayerIdle
	routePlayerCommand
	routePlaylistImage
	routePlaylistItems
	routeStream
	routeMyPlaylists
	routeSavedTracks
	routePlaylist
	routePlaylistEntries // GET /v1/playlists/{id}/items and the older /tracks
	routeSearch
	routeAlbum
	routeAlbumTracks
	routeArtist
	routeTrack
)

// classify names the route of method and path (without a trailing slash);
// id is the path's {id}, sub what follows it.
func classify(method, path string) (rt route, id, sub string) {
	switch {
	case path == "/v1/_emulator/stream" && method == http.MethodGet:
		return routeStream, "", ""
	case (path == "/v1/me/player" || strings.HasPrefix(path, "/v1/me/player/")) && (method == http.MethodPut || method == http.MethodPost):
		return routePlayerCommand, "", ""
	case method != http.MethodGet:
	case path == "/v1/me":
		return routeMe, "", ""
	case path == "/v1/me/player" || path == "/v1/me/player/currently-playing":
		return routePlayerIdle, "", ""
	case path == "/v1/me/playlists":
		return routeMyPlaylists, "", ""
	case path == "/v1/me/tracks":
		return routeSavedTracks, "", ""
	case path == "/v1/search":
		return routeSearch, "", ""
	}
	rest, ok := strings.CutPrefix(path, "/v1/")
	coll, rest, _ := strings.Cut(rest, "/")
	id, sub, _ = strings.Cut(rest, "/")
	switch {
	case !ok || id == "":
	case coll == "playlists" && sub == "images" && method == http.MethodPut:
		return routePlaylistImage, id, sub
	case coll == "playlists" && (sub == "items" || sub == "tracks") && method == http.MethodPost:
		return routePlaylistItems, id, sub
	case method != http.MethodGet:
	case coll == "playlists" && sub == "":
		return routePlaylist, id, sub
	case coll == "playlists" && (sub == "items" || sub == "tracks"):
		return routePlaylistEntries, id, sub
	case coll == "albums" && sub == "":
		return routeAlbum, id, sub
	case coll == "albums" && sub == "tracks":
		return routeAlbumTracks, id, sub
	case coll == "artists" && sub == "":
		return routeArtist, id, sub
	case coll == "tracks" && sub == "":
		return routeTrack, id, sub
	}
	return routeEcho, "", ""
}

// trimSlash drops one trailing slash, which Spotify ignores (/v1/me/).
func trimSlash(path string) string {
	if len(path) > len("/v1/") && strings.HasSuffix(path, "/") {
		return path[:len(path)-1]
	}
	return path
}

func (e *Emulator) serveAPI(w http.ResponseWriter, r *http.Request) {
	e.stats.apiCalls.Add(1)
	if retryAfter, limited := e.takeRateLimit(); limited {
		e.stats.rateLimited.Add(1)
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		writeAPIError(w, http.StatusTooManyRequests, "API rate limit exceeded")
		return
	}
	at, ok := e.authenticate(w, r)
	if !ok || e.rateLimited(w, r) {
		return
	}
	path := trimSlash(r.URL.Path)
	if at.user == "" && (path == "/v1/me" || strings.HasPrefix(path, "/v1/me/")) {
		writeAPIError(w, http.StatusForbidden, "Insufficient client scope")
		return
	}
	rt, id, sub := classify(r.Method, path)
	var keep int64
	switch rt {
	case routePlaylistImage:
		keep = MaxImageBytes + 1
	case routePlaylistItems:
		keep = maxItemsBody + 1
	}
	body, err := e.readBody(r, keep)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "Error reading request body")
		return
	}
	w.Header().Set(HeaderBodySHA256, body.sha256)
	w.Header().Set(HeaderBodyLength, strconv.FormatInt(body.length, 10))
	account := at.user
	if account == "" {
		account = app
	}

	switch rt {
	case routeStream:
		e.serveStream(w, r)
	case routeMe:
		e.writeJSON(w, r, http.StatusOK, newUser(at.user, e.baseURL(r)))
	case routePlayerIdle, routePlayerCommand:
		w.WriteHeader(http.StatusNoContent)
	case routePlaylistImage:
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "image/jpeg" {
			writeAPIError(w, http.StatusBadRequest, "Content-Type must be image/jpeg")
			return
		}
		if body.length > MaxImageBytes {
			writeAPIError(w, http.StatusRequestEntityTooLarge, "Request entity too large")
			return
		}
		w.WriteHeader(http.StatusAccepted)
	case routePlaylistItems:
		e.servePlaylistItems(w, r, body)
	case routeEcho:
		e.writeJSON(w, r, http.StatusOK, Echo{
			Method:      r.Method,
			Path:        r.URL.Path,
			Query:       r.URL.RawQuery,
			ContentType: r.Header.Get("Content-Type"),
			BodyLength:  body.length,
			BodySHA256:  body.sha256,
			AccountUser: account,
		})
	default:
		e.serveCatalog(w, r, rt, at.user, id, sub)
	}
}

// serveCatalog answers the modelled GET calls from the seeded catalog and
// the caller's seeded library.
func (e *Emulator) serveCatalog(w http.ResponseWriter, r *http.Request, rt route, user, id, sub string) {
	c := catalog{base: e.baseURL(r)}
	q := r.URL.Query()
	var pg pageReq
	switch rt {
	case routeMyPlaylists, routeSavedTracks, routeSearch, routePlaylistEntries, routeAlbumTracks:
		limits := limitsDefault()
		switch {
		case rt == routeMyPlaylists:
			limits = limitsMyPlaylists()
		case rt == routeSearch:
			limits = limitsSearch()
		case rt == routePlaylistEntries && sub == "tracks":
			limits = limitsPlaylistTracks()
		}
		limit, offset, msg := parsePaging(q, limits)
		if msg != "" {
			writeAPIError(w, http.StatusBadRequest, msg)
			return
		}
		path := strings.TrimPrefix(trimSlash(r.URL.Path), "/v1/")
		pg = pageReq{path: path, limit: limit, offset: offset, query: keptParams(q)}
	}

	switch rt {
	case routeMyPlaylists:
		e.writeJSON(w, r, http.StatusOK, c.myPlaylists(user, pg))
	case routeSavedTracks:
		e.writeJSON(w, r, http.StatusOK, c.savedTracks(user, pg))
	case routeSearch:
		res, msg := c.search(q, pg.limit, pg.offset)
		if msg != "" {
			writeAPIError(w, http.StatusBadRequest, msg)
			return
		}
		e.writeJSON(w, r, http.StatusOK, res)
	default:
		if !validBase62ID(id) {
			writeAPIError(w, http.StatusBadRequest, "Invalid base62 id")
			return
		}
		v, ok := c.lookup(rt, id, pg)
		switch {
		case !ok:
			writeAPIError(w, http.StatusNotFound, "Resource not found")
		case rt == routePlaylist || rt == routePlaylistEntries:
			e.writeJSONWithETag(w, r, v)
		default:
			e.writeJSON(w, r, http.StatusOK, v)
		}
	}
}

// lookup answers the GET by id rt for id; ok is false when the emulator did
// not make id or id names something else.
func (c catalog) lookup(rt route, id string, pg pageReq) (v any, ok bool) {
	k, n, ok := decodeID(id)
	if !ok {
		return nil, false
	}
	switch {
	case k == kindPlaylist && (rt == routePlaylist || rt == routePlaylistEntries):
		owner, p, exists := playlistOf(n)
		switch {
		case !exists:
		case rt == routePlaylist:
			return c.playlist(owner, p), true
		default:
			return c.playlistTracks(owner, p, pg), true
		}
	case k == kindAlbum && n < catalogAlbums && rt == routeAlbum:
		return c.album(n, pageReq{path: "albums/" + id + "/tracks", limit: 50}), true
	case k == kindAlbum && n < catalogAlbums && rt == routeAlbumTracks:
		return c.albumTracks(n, pg), true
	case k == kindArtist && n < catalogArtists && rt == routeArtist:
		return c.artist(n), true
	case k == kindTrack && rt == routeTrack:
		if b, pos := n>>4, int(n&0xf); b < catalogAlbums && pos < albumTrackCount(b) {
			return c.track(b, pos), true
		}
	}
	return nil, false
}

// baseURL is what the answer's absolute Web API URLs start with: the
// configured [Options.BaseURL], or the scheme and host the request came to.
func (e *Emulator) baseURL(r *http.Request) string {
	if e.base != "" {
		return e.base
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
