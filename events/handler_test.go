package events

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type pageBody struct {
	Events []map[string]any `json:"events"`
	Next   string           `json:"next"`
}

func get(t *testing.T, h http.Handler, target string) (*httptest.ResponseRecorder, pageBody) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	var p pageBody
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatalf("%s: %v", w.Body, err)
		}
	}
	return w, p
}

// Polling pages through the events in order; next is the cursor of the next poll
// and stays put when nothing is new.
func TestPollingHandler(t *testing.T) {
	for name, b := range map[string]func(t *testing.T) Backend{
		"file":  func(t *testing.T) Backend { return openFile(t, tempEventsFile(t), nil) },
		"redis": func(t *testing.T) Backend { return NewRedisBackend(newMiniredis(t), RedisOptions{Prefix: "p:"}) },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, b(t), nil, Options{})
			h := f.log.Handler()
			w, p := get(t, h, "/admin/v1/events")
			if w.Code != 200 || len(p.Events) != 0 || p.Next != "" || !strings.Contains(w.Body.String(), `"events":[]`) {
				t.Fatalf("empty log: %d %s", w.Code, w.Body)
			}
			var ids []string
			for _, a := range []string{"a", "b", "c"} {
				e, err := f.log.Emit(context.Background(), Event{Type: AccountLinked, Account: a, Status: StatusOK})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, e.ID)
			}
			_, p = get(t, h, "/admin/v1/events?limit=2")
			if len(p.Events) != 2 || p.Events[0]["id"] != ids[0] || p.Events[1]["account"] != "b" || p.Next != ids[1] {
				t.Fatalf("first page %+v", p)
			}
			_, p = get(t, h, "/admin/v1/events?after="+p.Next)
			if len(p.Events) != 1 || p.Events[0]["id"] != ids[2] || p.Next != ids[2] || p.Events[0]["type"] != "account.linked" {
				t.Fatalf("second page %+v", p)
			}
			_, p = get(t, h, "/admin/v1/events?after="+p.Next)
			if len(p.Events) != 0 || p.Next != ids[2] {
				t.Fatalf("nothing new: %+v", p)
			}
			for _, bad := range []string{"?after=abc", "?after=1-x", "?limit=0", "?limit=-3", "?limit=many"} {
				w, _ := get(t, h, "/admin/v1/events"+bad)
				if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"reason":"ADMIN_BAD_REQUEST"`) {
					t.Errorf("%s: %d %s", bad, w.Code, w.Body)
				}
			}
		})
	}
}
