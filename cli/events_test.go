package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// events tail against GET /admin/v1/events?after=<id> (the shape the events API
// answers: {"events":[{"id","type","account","time",…}],"next":"<id>"}).
func TestEventsTail(t *testing.T) {
	f := newFakeAdmin()
	f.eventsPage = 2
	for i, typ := range []string{"account.linked", "account.reauth_required", "account.recovered", "account.deleted", "account.linked"} {
		f.events = append(f.events, map[string]any{"id": fmt.Sprintf("1733011200000-%d", i), "type": typ, "account": "alice",
			"time": "2026-12-01T00:00:0" + fmt.Sprint(i) + "Z", "status": "ok", "authorized_at": "2026-11-30T10:00:00Z"})
	}
	srv := newServer(t, f)

	r := runCLI(t, srv, nil, "", "events", "tail", "--once", "-o", "json")
	r.want(t, 0, "", "")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d events:\n%s", len(lines), r.stdout)
	}
	for i, l := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev["id"] != fmt.Sprintf("1733011200000-%d", i) || ev["authorized_at"] == nil {
			t.Fatalf("line %d: %s", i, l)
		}
	}
	r = runCLI(t, srv, nil, "", "events", "tail", "--once", "--after", "1733011200000-2")
	r.want(t, 0, "account.deleted", "")
	if strings.Count(r.stdout, "\n") != 2 || strings.Contains(r.stdout, "recovered") {
		t.Fatalf("after 2:\n%s", r.stdout)
	}

	// Following: an event that arrives later is printed; cancelling (Ctrl-C) ends
	// the tail with status 0.
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	f.events = f.events[:1]
	f.eventsPage = 0
	f.onList = nil
	done := make(chan cliResult)
	srvFollow := newServer(t, &followFake{fakeAdmin: f, onEmpty: func() {
		calls++
		switch calls {
		case 1:
			f.events = append(f.events, map[string]any{"id": "late-1", "type": "account.reauth_required", "account": "bob", "time": "2026-12-01T00:01:00Z"})
		case 2:
			cancel()
		}
	}})
	go func() {
		done <- runCLICtx(ctx, t, srvFollow, nil, "", "events", "tail", "--interval=1ms")
	}()
	r = <-done
	r.want(t, 0, "account.reauth_required", "")
	if !strings.Contains(r.stdout, "bob") || !strings.Contains(r.stdout, "account.linked") {
		t.Fatalf("follow:\n%s", r.stdout)
	}

	runCLI(t, newServer(t, newFakeAdmin()), nil, "", "events", "tail", "--once").want(t, 1, "", "no events API")
}

// followFake calls onEmpty (under the fake's lock) whenever the events request
// would find nothing new.
type followFake struct {
	*fakeAdmin
	onEmpty func()
}

func (f *followFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/admin/v1/events" {
		f.mu.Lock()
		after := r.URL.Query().Get("after")
		if len(f.events) > 0 && f.events[len(f.events)-1]["id"] == after {
			f.onEmpty()
		}
		f.mu.Unlock()
	}
	f.fakeAdmin.ServeHTTP(w, r)
}
