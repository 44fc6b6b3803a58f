package spotifyemu_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// spotifyServer is the server URL of Spotify's OpenAPI description: the
// router matches requests against it.
const spotifyServer = "https://api.spotify.com"

// spotifySpec loads Spotify's published OpenAPI description (a copy in
// testdata/openapi; see the README there).
func spotifySpec(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("testdata/openapi/spotify-web-api.yml")
	if err != nil {
		t.Fatalf("loading the OpenAPI description: %v", err)
	}
	// The description is OpenAPI 3.0.3 and validates cleanly, examples
	// included. What kin-openapi makes of it: the discriminator of a
	// playlist entry's item (oneOf track or episode, propertyName "type",
	// no mapping) is enforced as "type must be present" and the oneOf then
	// decides; date-time formats and the Content-Type are checked; a
	// gzip-encoded body is not decoded (decode it first); most object
	// schemas (TrackObject, PlaylistObject) require no properties, while
	// paging objects require all seven and albums most of theirs.
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the OpenAPI description is invalid: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return doc, router
}

// validateAnswer checks one answer against the operation that method and
// path route to: its status must be documented, and its headers and body
// must match. Answers with a status the operation does not document
// (Spotify documents 400 and 404 for few calls) are checked against the
// description's shared error response of that status instead.
func validateAnswer(t *testing.T, doc *openapi3.T, router routers.Router, method, path string, a apiAnswer) {
	t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	// Route on Spotify's server URL, without the trailing slash the
	// description does not spell.
	routed := *u
	routed.Path = strings.TrimSuffix(u.Path, "/")
	req, err := http.NewRequest(method, spotifyServer+routed.RequestURI(), nil)
	if err != nil {
		t.Fatal(err)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s: no operation in the description: %v", method, path, err)
	}
	status := a.resp.StatusCode
	// The description omits one 204 that Spotify sends: GET
	// /v1/me/player/currently-playing answers 204 with no body when nothing
	// is playing, as GET /v1/me/player does (where the description has it).
	if status == http.StatusNoContent && route.Operation.OperationID == "get-the-users-currently-playing-track" {
		if len(a.body) != 0 {
			t.Errorf("%s %s: 204 with a body %q", method, path, a.body)
		}
		return
	}
	if route.Operation.Responses.Status(status) == nil {
		shared := map[int]string{400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 429: "TooManyRequests"}[status]
		ref := doc.Components.Responses[shared]
		if ref == nil {
			t.Fatalf("%s %s: status %d is neither documented for %s nor a shared error response", method, path, status, route.Operation.OperationID)
		}
		var v any
		a.json(t, &v)
		if err := ref.Value.Content.Get("application/json").Schema.Value.VisitJSON(v); err != nil {
			t.Errorf("%s %s: %d body %s does not match the %s response: %v", method, path, status, a.body, shared, err)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 a.resp.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(a.body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s (%s): answer %d does not match the description:\n%v\nbody: %.2000s", method, path, route.Operation.OperationID, status, err, a.body)
	}
}

// TestAnswersMatchSpotifyOpenAPI validates every modelled call's answer,
// errors included, against Spotify's published OpenAPI description.
func TestAnswersMatchSpotifyOpenAPI(t *testing.T) {
	doc, router := spotifySpec(t)
	e := newEnv(t, nil)
	tok := e.accessToken(t)
	ids := catalogIDs(t, e, tok)
	uris := `["spotify:track:` + ids.track + `","spotify:episode:512ojhOuo1ktJprKbVcKyQ"]`

	for _, tc := range []struct {
		method, path, contentType, body string
		auth                            string // "" = the user's bearer token
		status                          int
	}{
		{"GET", "/v1/me", "", "", "", 200},
		{"GET", "/v1/me/", "", "", "", 200},
		{"GET", "/v1/me/playlists", "", "", "", 200},
		{"GET", "/v1/me/playlists?limit=50", "", "", "", 200},
		{"GET", "/v1/me/playlists?offset=20&limit=5", "", "", "", 200},
		{"GET", "/v1/me/playlists?offset=100000", "", "", "", 200},
		{"GET", "/v1/me/playlists?limit=51", "", "", "", 400},
		{"GET", "/v1/me/playlists?limit=0", "", "", "", 400},
		{"GET", "/v1/me/playlists?offset=-1", "", "", "", 400},
		{"GET", "/v1/me/tracks", "", "", "", 200},
		{"GET", "/v1/me/tracks?offset=20&limit=50&market=SE", "", "", "", 200},
		{"GET", "/v1/playlists/" + ids.playlist, "", "", "", 200},
		{"GET", "/v1/playlists/" + ids.playlist + "/items", "", "", "", 200},
		{"GET", "/v1/playlists/" + ids.playlist + "/items?offset=40&limit=20&additional_types=track,episode", "", "", "", 200},
		{"GET", "/v1/playlists/" + ids.playlist + "/tracks?limit=100", "", "", "", 200},
		{"GET", "/v1/playlists/" + ids.playlist + "/items?limit=100", "", "", "", 400},
		{"GET", "/v1/playlists/" + ids.playlist + "/items?limit=abc", "", "", "", 400},
		{"GET", "/v1/playlists/not-an-id", "", "", "", 400},
		{"GET", "/v1/playlists/" + strings.Repeat("A", 22), "", "", "", 404},
		{"GET", "/v1/search?q=abba&type=track,artist,album,playlist,show,episode,audiobook", "", "", "", 200},
		{"GET", "/v1/search/?q=abba&type=track&limit=10&offset=1000", "", "", "", 200},
		{"GET", "/v1/search?q=abba&type=track&limit=11", "", "", "", 400},
		{"GET", "/v1/search?q=abba&type=song", "", "", "", 400},
		{"GET", "/v1/search?type=track", "", "", "", 400},
		{"GET", "/v1/albums/" + ids.album, "", "", "", 200},
		{"GET", "/v1/albums/" + ids.album + "/tracks?limit=2", "", "", "", 200},
		{"GET", "/v1/artists/" + ids.artist, "", "", "", 200},
		{"GET", "/v1/tracks/" + ids.track, "", "", "", 200},
		{"GET", "/v1/tracks/" + ids.track + "/", "", "", "", 200},
		{"GET", "/v1/tracks/" + ids.album, "", "", "", 404},
		{"GET", "/v1/me/player", "", "", "", 204},
		{"GET", "/v1/me/player/currently-playing", "", "", "", 204},
		{"PUT", "/v1/me/player/play", "application/json", `{"uris":["spotify:track:` + ids.track + `"]}`, "", 204},
		{"PUT", "/v1/me/player/pause", "", "", "", 204},
		{"POST", "/v1/me/player/next", "", "", "", 204},
		{"POST", "/v1/me/player/previous", "", "", "", 204},
		{"PUT", "/v1/me/player/volume?volume_percent=50", "", "", "", 204},
		{"POST", "/v1/me/player/queue?uri=spotify:track:" + ids.track, "", "", "", 204},
		{"POST", "/v1/playlists/" + ids.playlist + "/items", "application/json", `{"uris":` + uris + `}`, "", 201},
		{"POST", "/v1/playlists/" + ids.playlist + "/items", "application/json", uris, "", 201},
		{"POST", "/v1/playlists/" + ids.playlist + "/tracks", "application/json", uris, "", 201},
		{"PUT", "/v1/playlists/" + ids.playlist + "/images", "image/jpeg", "/9j/4AAQSkZJRg==", "", 202},
		{"GET", "/v1/me/playlists", "", "", "none", 401},
		{"GET", "/v1/tracks/" + ids.track, "", "", "Bearer BQunknown", 401},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			auth := "Bearer " + tok
			switch tc.auth {
			case "":
			case "none":
				auth = ""
			default:
				auth = tc.auth
			}
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			a := e.call(t, tc.method, tc.path, auth, tc.contentType, body)
			if a.resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", a.resp.StatusCode, tc.status, a.body)
			}
			validateAnswer(t, doc, router, tc.method, tc.path, a)
			if bytes.Contains(a.body, []byte("api.spotify.com")) {
				t.Errorf("answer names api.spotify.com instead of the emulator: %.300s", a.body)
			}
		})
	}

	// A 429 is documented for every call.
	e.emu.RateLimit(1, "2")
	a := e.get(t, "/v1/me/tracks", tok)
	if a.resp.StatusCode != 429 {
		t.Fatalf("status %d, want 429", a.resp.StatusCode)
	}
	validateAnswer(t, doc, router, "GET", "/v1/me/tracks", a)
}

// TestOpenAPIValidationCatchesWrongShapes shows the validation above is
// not vacuous: answers that break the description's schemas fail it.
func TestOpenAPIValidationCatchesWrongShapes(t *testing.T) {
	_, router := spotifySpec(t)
	for _, tc := range []struct{ name, path, body string }{
		{"echo instead of a paging object", "/v1/me/playlists", `{"method":"GET","path":"/v1/me/playlists"}`},
		{"paging object without next", "/v1/me/tracks", `{"href":"h","items":[],"limit":20,"offset":0,"previous":null,"total":0}`},
		{"string total", "/v1/me/tracks", `{"href":"h","items":[],"limit":20,"next":null,"offset":0,"previous":null,"total":"0"}`},
		{"album without release date", "/v1/albums/x", `{"album_type":"album","total_tracks":1,"available_markets":[],"external_urls":{},"href":"h","id":"x","images":[],"name":"n","release_date_precision":"day","type":"album","uri":"u","artists":[],"tracks":{"href":"h","items":[],"limit":20,"next":null,"offset":0,"previous":null,"total":0},"copyrights":[],"external_ids":{},"genres":[],"label":"l","popularity":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", spotifyServer+tc.path, nil)
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Fatal(err)
			}
			in := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
				Status:                 200,
				Header:                 http.Header{"Content-Type": {"application/json; charset=utf-8"}},
				Options:                &openapi3filter.Options{IncludeResponseStatus: true},
			}
			in.SetBodyBytes([]byte(tc.body))
			if err := openapi3filter.ValidateResponse(context.Background(), in); err == nil {
				t.Errorf("%s passed validation", tc.body)
			}
		})
	}
}

// ids of one of each modelled object, found by following the user's
// library the way a client would.
type modelIDs struct {
	playlist, track, album, artist string
}

func catalogIDs(t *testing.T, e *env, tok string) modelIDs {
	t.Helper()
	var pls struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	e.get(t, "/v1/me/playlists", tok).json(t, &pls)
	if len(pls.Items) == 0 {
		t.Fatal("the user has no playlists")
	}
	var items struct {
		Items []struct {
			Item struct {
				ID    string `json:"id"`
				Album struct {
					ID      string `json:"id"`
					Artists []struct {
						ID string `json:"id"`
					} `json:"artists"`
				} `json:"album"`
			} `json:"item"`
		} `json:"items"`
	}
	e.get(t, "/v1/playlists/"+pls.Items[0].ID+"/items?limit=1", tok).json(t, &items)
	if len(items.Items) != 1 || len(items.Items[0].Item.Album.Artists) == 0 {
		t.Fatalf("playlist %s: no first item with an album artist", pls.Items[0].ID)
	}
	it := items.Items[0].Item
	ids := modelIDs{playlist: pls.Items[0].ID, track: it.ID, album: it.Album.ID, artist: it.Album.Artists[0].ID}
	for _, id := range []string{ids.playlist, ids.track, ids.album, ids.artist} {
		if len(id) != 22 {
			t.Fatalf("id %q is not 22 base62 characters", id)
		}
	}
	return ids
}
