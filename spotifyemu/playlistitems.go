package spotifyemu

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
)

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
