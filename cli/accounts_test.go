package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newServer(t *testing.T, f http.Handler) *httptest.Server {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv
}

func writeFile(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// accounts list follows next_cursor to the end: 2,500 accounts in three requests.
func TestAccountsListFollowsPaging(t *testing.T) {
	var ids []string
	for i := range 2500 {
		ids = append(ids, fmt.Sprintf("user-%04d", i))
	}
	f := newFakeAdmin(ids...)
	f.accounts["user-0007"]["status"] = "reauth_required"
	f.accounts["user-2400"]["status"] = "reauth_required"
	srv := newServer(t, f)

	r := runCLI(t, srv, nil, "", "accounts", "list", "-o", "json")
	r.want(t, 0, "", "")
	var got struct {
		Accounts []map[string]any `json:"accounts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("-o json is not JSON: %v", err)
	}
	if len(got.Accounts) != 2500 || got.Accounts[2499]["id"] != "user-2499" || f.lists() != 3 {
		t.Fatalf("%d accounts in %d requests", len(got.Accounts), f.lists())
	}
	if _, ok := got.Accounts[0]["authorized_at"]; !ok {
		t.Fatal("fields of the API are not passed through")
	}

	r = runCLI(t, srv, nil, "", "accounts", "list", "--status=reauth_required")
	r.want(t, 0, "user-0007", "")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[2], "user-2400") {
		t.Fatalf("table:\n%s", r.stdout)
	}
}

func TestAccountsGetAndDelete(t *testing.T) {
	var ids []string
	for i := range 1500 {
		ids = append(ids, fmt.Sprintf("user-%04d", i))
	}
	f := newFakeAdmin(ids...)
	srv := newServer(t, f)
	r := runCLI(t, srv, nil, "", "accounts", "get", "user-0002")
	r.want(t, 0, `"id": "user-0002"`, "")
	if f.lists() != 1 {
		t.Fatalf("get read %d pages; the account is on the first", f.lists())
	}
	runCLI(t, srv, nil, "", "accounts", "get", "user-1200", "-o", "table").want(t, 0, "user-1200  ok", "")
	// An account deep in the list costs one request too, not a walk through the pages.
	if f.lists() != 2 {
		t.Fatalf("get of user-1200 made %d list requests in all, want 1 more", f.lists()-1)
	}
	runCLI(t, srv, nil, "", "accounts", "get", "user-12").want(t, 1, "", "user-12")
	// The table shows when the user must authorise the app again, "-" when unknown.
	table := runCLI(t, srv, nil, "", "accounts", "get", "user-1200", "-o", "table")
	column := func(table string) string { // the REFRESH TOKEN EXPIRES column of the account
		lines := strings.Split(table, "\n")
		if len(lines) < 2 || !strings.Contains(lines[0], "AUTHORIZED") || !strings.Contains(lines[0], "REFRESH TOKEN EXPIRES") {
			t.Fatalf("table:\n%s", table)
		}
		return strings.Fields(lines[1])[5]
	}
	if got := column(table.stdout); got != "2027-05-31T16:00:00Z" {
		t.Fatalf("refresh token expiry %q in\n%s", got, table.stdout)
	}
	f.mu.Lock()
	f.accounts["user-1201"]["refresh_token_expires_at"] = nil
	f.mu.Unlock()
	table = runCLI(t, srv, nil, "", "accounts", "get", "user-1201", "-o", "table")
	if got := column(table.stdout); got != "-" {
		t.Fatalf("refresh token expiry %q without one in\n%s", got, table.stdout)
	}
	runCLI(t, srv, nil, "", "accounts", "get", "nobody").want(t, 1, "", `account "nobody" not found`)

	runCLI(t, srv, nil, "", "accounts", "delete", "user-0002").want(t, 0, "deleted account user-0002", "")
	if len(f.deleted) != 1 || f.deleted[0] != "user-0002" {
		t.Fatalf("deleted %v", f.deleted)
	}
	runCLI(t, srv, nil, "", "accounts", "get", "user-0002").want(t, 1, "", "not found")
}
