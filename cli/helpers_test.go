package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const testToken = "test-admin-token-0123456789"

// fakeAdmin is the admin API of a proxy, as far as the CLI uses it: accounts paged
// by id, deletion, deliveries, the login pages' presence and the events list.
type fakeAdmin struct {
	mu         sync.Mutex
	accounts   map[string]map[string]any
	listCalls  int
	deliveries []map[string]string
	deleted    []string
	noLogin    bool
	events     []map[string]any
	eventsPage int            // events per answer (0: all)
	onList     func(call int) // called (under mu) on each list request
}

func newFakeAdmin(ids ...string) *fakeAdmin {
	f := &fakeAdmin{accounts: map[string]map[string]any{}}
	for _, id := range ids {
		f.accounts[id] = map[string]any{"id": id, "status": "ok", "scope": "user-read-private",
			"expires_at": "2026-12-01T01:00:00Z", "refreshed_at": nil, "authorized_at": "2026-11-30T10:00:00Z",
			"refresh_token_expires_at": "2027-05-31T16:00:00Z"}
	}
	return f
}

// lists is how many account lists were served; a request the CLI gave up on may
// still be finishing, so it is read under the lock.
func (f *fakeAdmin) lists() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listCalls
}

func (f *fakeAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/auth/signin" {
		if f.noLogin {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "<form>")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		w.WriteHeader(401)
		io.WriteString(w, `{"error":{"status":401,"message":"missing or wrong admin token","reason":"ADMIN_UNAUTHORIZED"}}`)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == "GET" && r.URL.Path == "/admin/v1/accounts":
		f.listCalls++
		if f.onList != nil {
			f.onList(f.listCalls)
		}
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit < 1 || limit > 1000 {
			limit = 100
		}
		cursor := r.URL.Query().Get("cursor")
		var ids []string
		for id := range f.accounts {
			if id > cursor {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		next := ""
		if len(ids) > limit {
			ids = ids[:limit]
			next = ids[limit-1]
		}
		out := []map[string]any{}
		for _, id := range ids {
			out = append(out, f.accounts[id])
		}
		json.NewEncoder(w).Encode(map[string]any{"accounts": out, "next_cursor": next})
	case r.Method == "DELETE" && strings.HasPrefix(r.URL.Path, "/admin/v1/accounts/"):
		id := strings.TrimPrefix(r.URL.Path, "/admin/v1/accounts/")
		delete(f.accounts, id)
		f.deleted = append(f.deleted, id)
		w.WriteHeader(204)
	case r.Method == "PUT" && strings.HasSuffix(r.URL.Path, "/token"):
		var body map[string]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(400)
			return
		}
		body["account"] = strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/admin/v1/accounts/"), "/token")
		f.deliveries = append(f.deliveries, body)
		w.WriteHeader(204)
	case r.Method == "GET" && r.URL.Path == "/admin/v1/events" && f.events != nil:
		after := r.URL.Query().Get("after")
		start := 0
		for i, ev := range f.events {
			if ev["id"] == after {
				start = i + 1
			}
		}
		page := f.events[start:]
		if f.eventsPage > 0 && len(page) > f.eventsPage {
			page = page[:f.eventsPage]
		}
		next := after
		if len(page) > 0 {
			next = page[len(page)-1]["id"].(string)
		}
		json.NewEncoder(w).Encode(map[string]any{"events": page, "next": next})
	default:
		http.NotFound(w, r)
	}
}

// cliResult is one run of the CLI.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs args with env as the environment (ADMIN_URL pointing at srv when
// srv is not nil and env does not say otherwise).
func runCLI(t *testing.T, srv *httptest.Server, env map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	return runCLICtx(context.Background(), t, srv, env, stdin, args...)
}

func runCLICtx(ctx context.Context, t *testing.T, srv *httptest.Server, env map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	full := map[string]string{"ADMIN_TOKEN": testToken}
	if srv != nil {
		full["ADMIN_URL"] = srv.URL
	}
	for k, v := range env {
		full[k] = v
	}
	var out, errb bytes.Buffer
	code := Run(ctx, args, Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv:  func(k string) string { return full[k] },
		Version: "spotify-token-proxy v9.9.9-test",
		CheckConfig: func(getenv func(string) string) error {
			if getenv("SPOTIFY_CLIENT_ID") == "" {
				return fmt.Errorf("SPOTIFY_CLIENT_ID: required")
			}
			return nil
		},
	})
	return cliResult{code, out.String(), errb.String()}
}

func (r cliResult) want(t *testing.T, code int, stdoutHas, stderrHas string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stdout, stdoutHas) || !strings.Contains(r.stderr, stderrHas) {
		t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stdout with %q, stderr with %q", r.code, code, r.stdout, r.stderr, stdoutHas, stderrHas)
	}
}
