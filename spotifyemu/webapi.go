package spotifyemu

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
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

// Messages of 401 answers.
const (
	msg401          = "Missing/invalid/expired access token"
	msgNoToken      = "No token provided"
	msgInvalidToken = "Invalid access token"
	msgExpiredToken = "The access token expired"
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

// authenticate checks the bearer token and writes the error answer when it
// is missing, malformed, unknown, revoked or expired.
func (e *Emulator) authenticate(w http.ResponseWriter, r *http.Request) (accessToken, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		e.write401(w, msgNoToken)
		return accessToken{}, false
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		writeAPIError(w, http.StatusBadRequest, "Only valid bearer authentication supported")
		return accessToken{}, false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		e.write401(w, msgNoToken)
		return accessToken{}, false
	}
	at, ok := e.lookupAccess(tok)
	switch {
	case !ok:
		e.write401(w, msgInvalidToken)
		return accessToken{}, false
	case !e.now().Before(at.expiresAt):
		e.write401(w, msgExpiredToken)
		return accessToken{}, false
	}
	return at, true
}

func (e *Emulator) write401(w http.ResponseWriter, legacyMsg string) {
	e.stats.unauthorized.Add(1)
	msg := msg401
	if e.legacy401.Load() {
		msg = legacyMsg
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="spotify", error="invalid_token", error_description="`+msg+`"`)
	writeAPIError(w, http.StatusUnauthorized, msg)
}

func (e *Emulator) servePlaylistItems(w http.ResponseWriter, r *http.Request, body bodyInfo) {
	var uris []string
	if body.length > maxItemsBody {
		writeAPIError(w, http.StatusRequestEntityTooLarge, "Request entity too large")
		return
	}
	if r.URL.Query().Has("uris") { // ?uris=a,b wins over the body, as at Spotify
		uris = strings.Split(r.URL.Query().Get("uris"), ",")
	} else if body.length > 0 {
		data := bytes.TrimSpace(body.data)
		var err error
		if len(data) > 0 && data[0] == '[' { // a bare array of URIs
			err = json.Unmarshal(data, &uris)
		} else {
			var req struct {
				URIs     []string `json:"uris"`
				Position *int     `json:"position"`
			}
			err = json.Unmarshal(data, &req)
			uris = req.URIs
		}
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "Error parsing JSON.")
			return
		}
	}
	switch {
	case uris == nil:
		writeAPIError(w, http.StatusBadRequest, "No uris provided")
	case len(uris) > MaxItemsPerCall:
		writeAPIError(w, http.StatusBadRequest, "You can add a maximum of 100 tracks per request.")
	default:
		e.writeJSON(w, r, http.StatusCreated, struct {
			SnapshotID string `json:"snapshot_id"`
		}{randomToken("")[:32]})
	}
}

// serveStream writes ?bytes=N bytes (byte i is byte(i%251)) in chunks of
// ?chunk= bytes (default 16 KiB), flushing each, optionally pausing ?delay=
// between chunks, without a Content-Length.
func (e *Emulator) serveStream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err := strconv.ParseInt(q.Get("bytes"), 10, 64)
	if err != nil || n < 0 {
		writeAPIError(w, http.StatusBadRequest, "bytes must be a non-negative integer")
		return
	}
	chunk := int64(streamChunk)
	if s := q.Get("chunk"); s != "" {
		if chunk, err = strconv.ParseInt(s, 10, 64); err != nil || chunk <= 0 || chunk > 1<<20 {
			writeAPIError(w, http.StatusBadRequest, "chunk must be between 1 and 1048576")
			return
		}
	}
	var delay time.Duration
	if s := q.Get("delay"); s != "" {
		if delay, err = time.ParseDuration(s); err != nil || delay < 0 {
			writeAPIError(w, http.StatusBadRequest, "delay must be a duration")
			return
		}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	buf := make([]byte, chunk)
	for off := int64(0); off < n; off += chunk {
		if off > 0 && delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		b := buf[:min(chunk, n-off)]
		for i := range b {
			b[i] = StreamByte(off + int64(i))
		}
		if _, err := w.Write(b); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// StreamByte is byte i of the /v1/_emulator/stream answer.
func StreamByte(i int64) byte { return byte(i % 251) }

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

// bodyInfo is what was read of a request body: all of it hashed and
// counted, at most keep bytes of it kept.
type bodyInfo struct {
	data   []byte
	length int64
	sha256 string
}

// emptySHA256 is the SHA-256 of no bytes, the common case of GET requests.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// readBody hashes and counts the whole body, keeping at most keep bytes.
// Bodyless requests (most Web API calls) cost nothing.
func (e *Emulator) readBody(r *http.Request, keep int64) (bodyInfo, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return bodyInfo{sha256: emptySHA256}, nil
	}
	h := sha256.New()
	kw := &keepWriter{h: h, keep: keep}
	buf, _ := e.copyBufs.Get().(*[]byte)
	if buf == nil {
		b := make([]byte, 32<<10)
		buf = &b
	}
	n, err := io.CopyBuffer(kw, r.Body, *buf)
	e.copyBufs.Put(buf)
	if err != nil {
		return bodyInfo{}, fmt.Errorf("spotifyemu: reading request body: %w", err)
	}
	return bodyInfo{data: kw.buf, length: n, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}

type keepWriter struct {
	h    hash.Hash
	buf  []byte
	keep int64
}

func (k *keepWriter) Write(p []byte) (int, error) {
	k.h.Write(p)
	if room := k.keep - int64(len(k.buf)); room > 0 {
		k.buf = append(k.buf, p[:min(int64(len(p)), room)]...)
	}
	return len(p), nil
}

func writeAPIError(w http.ResponseWriter, status int, msg string) {
	writeAPIJSON(w, status, apiError{Error: apiErrorBody{Status: status, Message: msg}})
}

type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func writeAPIJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only plain structs are marshalled here
		http.Error(w, "spotifyemu: encoding answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// gzipMinLength is the smallest JSON answer that is gzip-encoded when the
// caller accepts it: compressing a few hundred bytes saves nothing, and it
// keeps the small answers that load tests make by the thousand (GET /v1/me,
// errors) as cheap as before.
const gzipMinLength = 1024

// writeJSON writes v as JSON, gzip-encoded when the caller sends
// Accept-Encoding: gzip and the answer is at least gzipMinLength bytes.
func (e *Emulator) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := encodeJSON(v)
	if err != nil { // only plain structs are encoded here
		http.Error(w, "spotifyemu: encoding answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	e.sendJSON(w, r, status, b, "")
}

// writeJSONWithETag writes v as a 200 JSON answer with an ETag, or 304 Not
// Modified without a body when If-None-Match names that ETag, as Spotify
// does for playlists.
func (e *Emulator) writeJSONWithETag(w http.ResponseWriter, r *http.Request, v any) {
	b, err := encodeJSON(v)
	if err != nil { // only plain structs are encoded here
		http.Error(w, "spotifyemu: encoding answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	sum := sha256.Sum256(b)
	tag := `"` + hex.EncodeToString(sum[:16]) + `"`
	if etagMatches(r.Header.Get("If-None-Match"), tag) {
		if gzipFor(r, len(b)) {
			tag = "W/" + tag // the ETag the 200 would carry
		}
		h := w.Header()
		h.Set("ETag", tag)
		h.Set("Cache-Control", "private, max-age=0")
		h.Add("Vary", "Accept-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	e.sendJSON(w, r, http.StatusOK, b, tag)
}

// encodeJSON encodes v with URLs keeping their literal "&", as in Spotify's
// answers (encoding/json.Marshal writes \u0026).
func encodeJSON(v any) ([]byte, error) {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// sendJSON writes the JSON answer b, gzip-encoded when the caller accepts it
// and b is at least gzipMinLength bytes; etag, when not empty, is sent as a
// weak ETag with the gzip encoding, as most servers do.
func (e *Emulator) sendJSON(w http.ResponseWriter, r *http.Request, status int, b []byte, etag string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "private, max-age=0")
	h.Add("Vary", "Accept-Encoding")
	if gzipFor(r, len(b)) {
		b = e.gzipBytes(b)
		h.Set("Content-Encoding", "gzip")
		if etag != "" {
			etag = "W/" + etag
		}
	}
	if etag != "" {
		h.Set("ETag", etag)
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// etagMatches is If-None-Match's weak comparison of the header value with
// tag: "*" or any listed tag, with or without W/.
func etagMatches(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}

// gzipFor reports whether an answer of n bytes to r is gzip-encoded.
func gzipFor(r *http.Request, n int) bool {
	return n >= gzipMinLength && acceptsGzip(r.Header.Values("Accept-Encoding"))
}

func (e *Emulator) gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := e.gzipWriters.Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed) // the level is valid: no error
	} else {
		zw.Reset(&buf)
	}
	_, _ = zw.Write(b) // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	e.gzipWriters.Put(zw)
	return buf.Bytes()
}

// acceptsGzip reports whether Accept-Encoding values accept gzip: "gzip"
// or "*" with no q=0.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for _, coding := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(coding, ";")
			name = strings.TrimSpace(name)
			if !strings.EqualFold(name, "gzip") && name != "*" {
				continue
			}
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			if q > 0 {
				return true
			}
		}
	}
	return false
}
