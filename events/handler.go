package events

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/apierror"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
)

// Paging of GET /admin/v1/events.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// page is the body of GET /admin/v1/events.
type page struct {
	Events []Event `json:"events"`
	// Next is the after= of the next poll: the last event's id, or the request's
	// after when there was nothing new.
	Next string `json:"next"`
}

// Handler serves GET /admin/v1/events?after=<id>&limit=<n> for apps that poll:
//
//	{"events":[{"id":"1764547200000-0","type":"account.linked","account":"alice",…}],
//	 "next":"1764547200000-0"}
//
// Events are oldest first; without after the oldest kept are listed. limit is 1 to
// 1000 (default 100; larger is lowered). Authentication is the mounting mux's job.
func (l *Log) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			apierror.Write(w, http.StatusMethodNotAllowed, "ADMIN_BAD_REQUEST", "use GET", 0)
			return
		}
		q := r.URL.Query()
		after := q.Get("after")
		id, ok := parseID(after)
		if !ok {
			apierror.Write(w, http.StatusBadRequest, "ADMIN_BAD_REQUEST", "after must be an event id (<milliseconds>-<sequence>) from an earlier answer", 0)
			return
		}
		limit := DefaultPageLimit
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				apierror.Write(w, http.StatusBadRequest, "ADMIN_BAD_REQUEST", "limit must be a positive integer", 0)
				return
			}
			limit = min(n, MaxPageLimit)
		}
		evs, err := l.b.list(r.Context(), id, limit)
		if err != nil {
			l.m.StoreError(metrics.OpEvents)
			l.log.Error("events: listing failed", "error", err)
			apierror.Write(w, http.StatusServiceUnavailable, "ADMIN_STORE_UNAVAILABLE", "the event store failed; try again", 5*time.Second)
			return
		}
		p := page{Events: evs, Next: after}
		if p.Events == nil {
			p.Events = []Event{}
		}
		if len(evs) > 0 {
			p.Next = evs[len(evs)-1].ID
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(p)
	})
}
