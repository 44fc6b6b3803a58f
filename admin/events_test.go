package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/events"
)

// An admin delivery of a new account emits account.linked, a delivery to an
// existing account does not, DELETE emits account.deleted; GET /admin/v1/events
// lists them behind the bearer token; no token reaches the events.
func TestAccountEventsFromTheAdminAPI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.events.json")
	fb, err := events.OpenFileBackend(path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var log *events.Log
	e := newEnv(t, envOption{admin: func(cfg *Config) {
		log, err = events.New(events.Options{Backend: fb, Lifetime: 4380 * time.Hour, Now: cfg.Now})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Events, cfg.EventsHandler = log, log.Handler()
	}})
	const rt, at = "RT-very-secret-refresh", "AT-very-secret-access"
	body := `{"refresh_token":"` + rt + `","access_token":"` + at + `","expires_in":3600,"authorized_at":"2026-11-01T00:00:00Z"}`
	wantStatus(t, e.do(t, put("alice", body)), http.StatusNoContent)
	wantStatus(t, e.do(t, put("alice", strings.Replace(body, rt, rt+"2", 1))), http.StatusNoContent)
	wantStatus(t, e.do(t, req{method: "DELETE", path: "/admin/v1/accounts/alice"}), http.StatusNoContent)

	wantError(t, e.do(t, req{method: "GET", path: "/admin/v1/events", auth: "-"}), http.StatusUnauthorized, "ADMIN_UNAUTHORIZED")
	w := e.do(t, req{method: "GET", path: "/admin/v1/events"})
	wantStatus(t, w, http.StatusOK)
	var page struct {
		Events []struct {
			ID, Type, Account, Status string
			AuthorizedAt              *string `json:"authorized_at"`
			ExpiresAt                 *string `json:"expires_at"`
		} `json:"events"`
		Next string `json:"next"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 2 || page.Events[0].Type != "account.linked" || page.Events[1].Type != "account.deleted" ||
		page.Events[0].Account != "alice" || page.Next != page.Events[1].ID {
		t.Fatalf("events %s", w.Body)
	}
	if a := page.Events[0].AuthorizedAt; a == nil || *a != "2026-11-01T00:00:00Z" || page.Events[0].ExpiresAt == nil ||
		*page.Events[0].ExpiresAt != "2027-05-02T12:00:00Z" {
		t.Fatalf("linked event times %s", w.Body)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{rt, at, "very-secret"} {
		if strings.Contains(string(file), secret) || strings.Contains(w.Body.String(), secret) {
			t.Fatalf("a token reached the events (file or API)")
		}
	}
}

// spyEmitter records the calls of an Emitter.
type spyEmitter struct {
	mu      sync.Mutex
	linked  []string
	deleted []string
}

func (s *spyEmitter) Linked(_ context.Context, account string, authorizedAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.linked = append(s.linked, account+"@"+authorizedAt.UTC().Format(time.RFC3339))
}

func (s *spyEmitter) Deleted(_ context.Context, account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted = append(s.deleted, account)
}

// A completed login emits account.linked with the login's time as authorized_at.
func TestLoginEmitsLinked(t *testing.T) {
	l := newLoginEnv(t)
	spy := &spyEmitter{}
	l.srv.cfg.Events = spy
	loc, _, _ := l.startLogin(t, "account=alice")
	wantPage(t, l.get(t, l.authorize(t, loc, ""), ""), http.StatusOK, "Account alice linked")
	want := "alice@" + l.clock.Now().UTC().Format(time.RFC3339)
	if len(spy.linked) != 1 || spy.linked[0] != want {
		t.Fatalf("linked %v, want [%s]", spy.linked, want)
	}
}
