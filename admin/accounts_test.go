package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

func put(account, body string) req {
	return req{method: "PUT", path: "/admin/v1/accounts/" + account + "/token", body: body}
}

func get(account string) req {
	return req{method: "GET", path: "/admin/v1/accounts/" + account + "/token"}
}

func decodeToken(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	wantStatus(t, w, http.StatusOK)
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDeliverThenGetFreshToken(t *testing.T) {
	e := newEnv(t, envOption{})
	wantStatus(t, e.do(t, put("alice", `{"refresh_token":"RT-alice-secret","scope":"user-read-private"}`)), http.StatusNoContent)
	rec, ok := e.record(t, "alice")
	if !ok || rec.RefreshToken != "RT-alice-secret" || !rec.ObtainedAt.Equal(e.clock.Now()) || !rec.AuthorizedAt.Equal(e.clock.Now()) {
		t.Fatalf("stored %+v (obtained %v, authorized %v)", rec, rec.ObtainedAt, rec.AuthorizedAt)
	}

	w := e.do(t, get("alice"))
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	if strings.Contains(w.Body.String(), "RT-alice-secret") || strings.Contains(w.Body.String(), "refresh_token") {
		t.Fatalf("the answer leaks the refresh token: %s", w.Body.String())
	}
	m := decodeToken(t, w)
	want := map[string]any{
		"access_token": "AT-refreshed-1", "token_type": "Bearer", "scope": "user-read-private",
		"expires_at": e.clock.Now().Add(time.Hour).Format(time.RFC3339), "expires_in": float64(3600),
	}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Fatalf("answer %v, want %v", m, want)
	}
	if got := refreshes(e.m, "admin", "success"); got != 1 {
		t.Fatalf("admin refreshes = %v, want 1", got)
	}

	// Fresh: with less than REFRESH_AHEAD left, GET refreshes at once.
	e.clock.Add(57 * time.Minute)
	m = decodeToken(t, e.do(t, get("alice")))
	if m["access_token"] != "AT-refreshed-2" || m["expires_in"] != float64(3600) {
		t.Fatalf("not refreshed near expiry: %v", m)
	}
}

func TestDeliverWithAccessToken(t *testing.T) {
	e := newEnv(t, envOption{})
	at := e.clock.Now().Add(30 * time.Minute)
	for name, body := range map[string]string{
		"expires_in":         `{"refresh_token":"RT-1","access_token":"AT-given","expires_in":1800}`,
		"expires_at rfc3339": fmt.Sprintf(`{"refresh_token":"RT-1","access_token":"AT-given","expires_at":%q}`, at.Format(time.RFC3339)),
		"expires_at unix":    fmt.Sprintf(`{"refresh_token":"RT-1","access_token":"AT-given","expires_at":%d}`, at.Unix()),
	} {
		t.Run(name, func(t *testing.T) {
			wantStatus(t, e.do(t, req{method: "DELETE", path: "/admin/v1/accounts/bob"}), http.StatusNoContent)
			wantStatus(t, e.do(t, put("bob", body)), http.StatusNoContent)
			m := decodeToken(t, e.do(t, get("bob")))
			if m["access_token"] != "AT-given" || m["expires_in"] != float64(1800) {
				t.Fatalf("answer %v", m)
			}
		})
	}
	e.ref.set(func(f *fakeRefresher) {
		if f.calls != 0 {
			t.Errorf("%d refreshes for a delivered valid token", f.calls)
		}
	})
}

func TestDeliveryBadRequests(t *testing.T) {
	e := newEnv(t, envOption{})
	future := e.clock.Now().Add(time.Hour).Format(time.RFC3339)
	cases := []struct {
		name, account, body, field string
	}{
		{"malformed JSON", "a", `{"refresh_token":"RT-secret"`, "JSON"},
		{"not JSON", "a", `refresh_token=RT-secret`, "JSON"},
		{"empty body", "a", ``, "empty"},
		{"array", "a", `["RT-secret"]`, "object"},
		{"unknown field", "a", `{"refresh_token":"RT-secret","refreshtoken":"x"}`, "refreshtoken"},
		{"trailing object", "a", `{"refresh_token":"RT-secret"}{"refresh_token":"RT-secret"}`, "trailing"},
		{"trailing garbage", "a", `{"refresh_token":"RT-secret"} xyz`, "trailing"},
		{"no refresh token", "a", `{"access_token":"AT-secret","expires_in":10}`, "refresh_token"},
		{"empty refresh token", "a", `{"refresh_token":""}`, "refresh_token"},
		{"null refresh token", "a", `{"refresh_token":null}`, "refresh_token"},
		{"number refresh token", "a", `{"refresh_token":12345}`, "refresh_token"},
		{"refresh token with space", "a", `{"refresh_token":"RT secret"}`, "refresh_token"},
		{"access token with newline", "a", `{"refresh_token":"RT-secret","access_token":"AT\nsecret","expires_in":1}`, "access_token"},
		{"both expiries", "a", `{"refresh_token":"RT-secret","access_token":"AT-secret","expires_in":10,"expires_at":"` + future + `"}`, "not both"},
		{"negative expires_in", "a", `{"refresh_token":"RT-secret","access_token":"AT-secret","expires_in":-1}`, "expires_in"},
		{"fractional expires_in", "a", `{"refresh_token":"RT-secret","access_token":"AT-secret","expires_in":1.5}`, "expires_in"},
		{"string expires_in", "a", `{"refresh_token":"RT-secret","access_token":"AT-secret","expires_in":"3600"}`, "expires_in"},
		{"huge expires_in", "a", `{"refresh_token":"RT-secret","access_token":"AT-secret","expires_in":99999999999999}`, "expires_in"},
		{"bad expires_at", "a", `{"refresh_token":"RT-secret","access_token":"AT-secret","expires_at":"tomorrow"}`, "expires_at"},
		{"access token without expiry", "a", `{"refresh_token":"RT-secret","access_token":"AT-secret"}`, "access_token"},
		{"expiry without access token", "a", `{"refresh_token":"RT-secret","expires_in":10}`, "expires_in"},
		{"bad obtained_at", "a", `{"refresh_token":"RT-secret","obtained_at":"2026-13-01"}`, "obtained_at"},
		{"zero obtained_at", "a", `{"refresh_token":"RT-secret","obtained_at":0}`, "obtained_at"},
		{"future obtained_at", "a", `{"refresh_token":"RT-secret","obtained_at":"` + future + `"}`, "obtained_at"},
		{"bad authorized_at", "a", `{"refresh_token":"RT-secret","authorized_at":true}`, "authorized_at"},
		{"bad scope", "a", `{"refresh_token":"RT-secret","scope":"a\u0000b"}`, "scope"},
		{"bad account", "bad%20id", `{"refresh_token":"RT-secret"}`, "account"},
		{"long account", strings.Repeat("a", 129), `{"refresh_token":"RT-secret"}`, "account"},
		{"slash in account", "a%2Fb", `{"refresh_token":"RT-secret"}`, "account"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := wantError(t, e.do(t, put(c.account, c.body)), http.StatusBadRequest, "ADMIN_BAD_REQUEST")
			if !strings.Contains(msg, c.field) {
				t.Errorf("message %q does not name %q", msg, c.field)
			}
			if strings.Contains(msg, "secret") {
				t.Errorf("message %q echoes a token", msg)
			}
		})
	}
	if recs, _, _ := e.store.List(context.Background(), "", 10); len(recs) != 0 {
		t.Fatalf("bad deliveries stored %d records", len(recs))
	}
}

func TestDeliveryTooLarge(t *testing.T) {
	e := newEnv(t, envOption{})
	big := `{"refresh_token":"` + strings.Repeat("x", MaxDeliveryBody) + `"}`
	wantError(t, e.do(t, put("a", big)), http.StatusRequestEntityTooLarge, "ADMIN_BODY_TOO_LARGE")

	// Without a Content-Length, the limit applies while reading: a valid object
	// followed by padding past the limit is refused too.
	for name, body := range map[string]string{
		"one token":        big,
		"trailing padding": `{"refresh_token":"RT-1"}` + strings.Repeat(" ", MaxDeliveryBody),
	} {
		r := httptest.NewRequest("PUT", "/admin/v1/accounts/a/token", struct{ *strings.Reader }{strings.NewReader(body)})
		r.ContentLength = -1
		r.Header.Set("Authorization", "Bearer "+testAdminToken)
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("%s: status %d, want 413", name, w.Code)
		}
	}
	// Just under the limit is fine.
	ok := `{"refresh_token":"` + strings.Repeat("x", MaxDeliveryBody-100) + `"}`
	wantStatus(t, e.do(t, put("a", ok)), http.StatusNoContent)
}

func TestStaleDelivery(t *testing.T) {
	e := newEnv(t, envOption{})
	now := e.clock.Now()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	wantStatus(t, e.do(t, put("alice", `{"refresh_token":"RT-1","obtained_at":"`+at(-time.Hour)+`"}`)), http.StatusNoContent)
	v1, _ := e.record(t, "alice")

	wantError(t, e.do(t, put("alice", `{"refresh_token":"RT-0","obtained_at":"`+at(-2*time.Hour)+`"}`)),
		http.StatusConflict, "ADMIN_STALE_DELIVERY")
	if rec, _ := e.record(t, "alice"); rec.RefreshToken != "RT-1" || rec.Version != v1.Version {
		t.Fatalf("a stale delivery changed the record (version %d → %d)", v1.Version, rec.Version)
	}

	// Newer (or absent: now) is accepted; authorized_at defaults to obtained_at.
	wantStatus(t, e.do(t, put("alice", `{"refresh_token":"RT-2","obtained_at":`+fmt.Sprint(now.Add(-time.Minute).Unix())+`}`)), http.StatusNoContent)
	wantStatus(t, e.do(t, put("alice", `{"refresh_token":"RT-3","authorized_at":"`+at(-24*time.Hour)+`"}`)), http.StatusNoContent)
	rec, _ := e.record(t, "alice")
	if rec.RefreshToken != "RT-3" || !rec.ObtainedAt.Equal(now) || !rec.AuthorizedAt.Equal(now.Add(-24*time.Hour)) {
		t.Fatalf("stored %v obtained %v authorized %v", rec, rec.ObtainedAt, rec.AuthorizedAt)
	}
}

func TestGetTokenErrors(t *testing.T) {
	e := newEnv(t, envOption{})
	wantError(t, e.do(t, get("nobody")), http.StatusNotFound, "PROXY_NO_TOKEN")
	wantError(t, e.do(t, get("bad%20id")), http.StatusBadRequest, "ADMIN_BAD_REQUEST")

	wantStatus(t, e.do(t, put("revoked", `{"refresh_token":"RT-revoked"}`)), http.StatusNoContent)
	e.ref.set(func(f *fakeRefresher) { f.revoked["RT-revoked"] = true })
	w := e.do(t, get("revoked"))
	wantError(t, w, http.StatusUnauthorized, "PROXY_REAUTH_REQUIRED")
	if w.Header().Get("WWW-Authenticate") != "" {
		t.Fatal("a reauth answer must not challenge the admin client")
	}

	wantStatus(t, e.do(t, put("down", `{"refresh_token":"RT-down"}`)), http.StatusNoContent)
	e.ref.set(func(f *fakeRefresher) { f.failing = true })
	w = e.do(t, get("down"))
	wantError(t, w, http.StatusServiceUnavailable, "PROXY_TOKEN_UNAVAILABLE")
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}

	// The client-credentials account needs no record.
	m := decodeToken(t, e.do(t, get("app")))
	if !strings.HasPrefix(m["access_token"].(string), "CC-") {
		t.Fatalf("app token %v", m)
	}
}

// listing is the decoded body of GET /admin/v1/accounts.
type listing struct {
	Accounts []map[string]any `json:"accounts"`
	Next     *string          `json:"next_cursor"`
}

func list(t *testing.T, e *env, query string) listing {
	t.Helper()
	w := e.do(t, req{method: "GET", path: "/admin/v1/accounts" + query})
	wantStatus(t, w, http.StatusOK)
	if strings.Contains(w.Body.String(), "RT-") || strings.Contains(w.Body.String(), "AT-") {
		t.Fatalf("the list leaks tokens: %s", w.Body.String())
	}
	var l listing
	if err := json.Unmarshal(w.Body.Bytes(), &l); err != nil {
		t.Fatal(err)
	}
	if l.Next == nil {
		t.Fatal("next_cursor missing")
	}
	return l
}

func TestListPaging(t *testing.T) {
	e := newEnv(t, envOption{})
	var want []string
	for i := range 25 {
		id := fmt.Sprintf("user%02d", i)
		want = append(want, id)
		wantStatus(t, e.do(t, put(id, fmt.Sprintf(`{"refresh_token":"RT-%d","access_token":"AT-%d","expires_in":3600,"scope":"s"}`, i, i))), http.StatusNoContent)
	}
	var got []string
	var sizes []int
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("paging does not end")
		}
		l := list(t, e, "?limit=10&cursor="+cursor)
		sizes = append(sizes, len(l.Accounts))
		for _, a := range l.Accounts {
			got = append(got, a["id"].(string))
			if a["status"] != "ok" || a["scope"] != "s" || a["expires_at"] != e.clock.Now().Add(time.Hour).Format(time.RFC3339) ||
				a["authorized_at"] != e.clock.Now().Format(time.RFC3339) || a["refreshed_at"] != e.clock.Now().Format(time.RFC3339) {
				t.Fatalf("account %v", a)
			}
			if v, ok := a["refresh_token_expires_at"]; len(a) != 7 || !ok || v != nil {
				t.Fatalf("account has fields %v, want exactly id status expires_at scope refreshed_at authorized_at refresh_token_expires_at (null: no lifetime)", a)
			}
		}
		if *l.Next == "" {
			break
		}
		cursor = *l.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(sizes) != "[10 10 5]" {
		t.Fatalf("pages %v: %v, want %v", sizes, got, want)
	}
	if l := list(t, e, ""); len(l.Accounts) != 25 || *l.Next != "" {
		t.Fatalf("default limit: %d accounts, next %q", len(l.Accounts), *l.Next)
	}
	for _, q := range []string{"?limit=0", "?limit=-3", "?limit=ten", "?cursor=" + strings.Repeat("c", 2000)} {
		wantError(t, e.do(t, req{method: "GET", path: "/admin/v1/accounts" + q}), http.StatusBadRequest, "ADMIN_BAD_REQUEST")
	}
}

// refresh_token_expires_at is authorized_at + the refresh token lifetime; null for
// an account without an authorisation time (a seed, the app account).
func TestListShowsRefreshTokenExpiry(t *testing.T) {
	const lifetime = 4380 * time.Hour
	e := newEnv(t, envOption{admin: func(c *Config) { c.RefreshTokenLifetime = lifetime }})
	authorized := e.clock.Now().Add(-30 * 24 * time.Hour)
	wantStatus(t, e.do(t, put("alice", `{"refresh_token":"RT-1","authorized_at":"`+authorized.Format(time.RFC3339)+`"}`)), http.StatusNoContent)
	if _, err := e.src.Seed(context.Background(), "seeded", "RT-2"); err != nil {
		t.Fatal(err)
	}
	l := list(t, e, "")
	if len(l.Accounts) != 2 {
		t.Fatalf("accounts %v", l.Accounts)
	}
	byID := map[string]map[string]any{}
	for _, a := range l.Accounts {
		byID[a["id"].(string)] = a
	}
	if got, want := byID["alice"]["refresh_token_expires_at"], authorized.Add(lifetime).UTC().Format(time.RFC3339); got != want {
		t.Errorf("alice: refresh_token_expires_at %v, want %v", got, want)
	}
	if v, ok := byID["seeded"]["refresh_token_expires_at"]; !ok || v != nil {
		t.Errorf("seeded account without authorized_at: refresh_token_expires_at %v (present %v), want null", v, ok)
	}
}

func TestListLimitsAndCorrupt(t *testing.T) {
	var gotLimit int
	e := newEnv(t, envOption{admin: func(c *Config) {
		c.Tokens = listFunc{Source: c.Tokens.(*tokenstore.Source), fn: func(cursor string, limit int) ([]tokenstore.Record, string, error) {
			gotLimit = limit
			return []tokenstore.Record{{Account: "broken"}, {Account: "fine", Status: tokenstore.StatusReauthRequired}}, "", nil
		}}
	}})
	l := list(t, e, "?limit=5000")
	if gotLimit != MaxListLimit {
		t.Fatalf("limit passed %d, want %d", gotLimit, MaxListLimit)
	}
	if l.Accounts[0]["status"] != "corrupt" || l.Accounts[1]["status"] != "reauth_required" || l.Accounts[0]["expires_at"] != nil {
		t.Fatalf("accounts %v", l.Accounts)
	}
	list(t, e, "")
	if gotLimit != DefaultListLimit {
		t.Fatalf("default limit %d", gotLimit)
	}
}

type listFunc struct {
	*tokenstore.Source
	fn func(cursor string, limit int) ([]tokenstore.Record, string, error)
}

func (l listFunc) List(_ context.Context, cursor string, limit int) ([]tokenstore.Record, string, error) {
	return l.fn(cursor, limit)
}

func TestDelete(t *testing.T) {
	e := newEnv(t, envOption{})
	wantStatus(t, e.do(t, put("alice", `{"refresh_token":"RT-1","access_token":"AT-1","expires_in":3600}`)), http.StatusNoContent)
	decodeToken(t, e.do(t, get("alice"))) // cached in the Source now
	wantStatus(t, e.do(t, req{method: "DELETE", path: "/admin/v1/accounts/alice"}), http.StatusNoContent)
	wantError(t, e.do(t, get("alice")), http.StatusNotFound, "PROXY_NO_TOKEN")
	if _, ok := e.record(t, "alice"); ok {
		t.Fatal("record still stored")
	}
	wantStatus(t, e.do(t, req{method: "DELETE", path: "/admin/v1/accounts/alice"}), http.StatusNoContent)
	wantError(t, e.do(t, req{method: "DELETE", path: "/admin/v1/accounts/a%20b"}), http.StatusBadRequest, "ADMIN_BAD_REQUEST")
}
