package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

var fuzzNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestDecodeDeliveryAccepts(t *testing.T) {
	now := fuzzNow
	cases := []struct {
		name, body string
		want       tokenstore.Delivery
	}{
		{"minimal", `{"refresh_token":"RT"}`, tokenstore.Delivery{RefreshToken: "RT"}},
		{"nulls", `{"refresh_token":"RT","access_token":null,"expires_in":null,"expires_at":null,"obtained_at":null,"scope":null}`,
			tokenstore.Delivery{RefreshToken: "RT"}},
		{"expires_in", `{"refresh_token":"RT","access_token":"AT","expires_in":3600,"scope":"a b"}`,
			tokenstore.Delivery{RefreshToken: "RT", AccessToken: "AT", Expiry: now.Add(time.Hour), Scope: "a b"}},
		{"expires_in zero", `{"refresh_token":"RT","access_token":"AT","expires_in":0}`,
			tokenstore.Delivery{RefreshToken: "RT", AccessToken: "AT", Expiry: now}},
		{"expires_at offset", `{"refresh_token":"RT","access_token":"AT","expires_at":"2026-11-25T14:00:00.5+02:00"}`,
			tokenstore.Delivery{RefreshToken: "RT", AccessToken: "AT", Expiry: now.Add(500 * time.Millisecond)}},
		{"unix times", fmt.Sprintf(`{"refresh_token":"RT","obtained_at":%d,"authorized_at":%d}`, now.Unix()-60, now.Unix()-3600),
			tokenstore.Delivery{RefreshToken: "RT", ObtainedAt: now.Add(-time.Minute), AuthorizedAt: now.Add(-time.Hour)}},
		{"slightly ahead", `{"refresh_token":"RT","obtained_at":"2026-11-25T12:04:00Z"}`,
			tokenstore.Delivery{RefreshToken: "RT", ObtainedAt: now.Add(4 * time.Minute)}},
		{"whitespace around", " \n{\"refresh_token\":\"RT\"}\n\t", tokenstore.Delivery{RefreshToken: "RT"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := decodeDelivery(strings.NewReader(c.body), now)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Expiry.Equal(c.want.Expiry) || !d.ObtainedAt.Equal(c.want.ObtainedAt) || !d.AuthorizedAt.Equal(c.want.AuthorizedAt) {
				t.Fatalf("times %v %v %v, want %v %v %v", d.Expiry, d.ObtainedAt, d.AuthorizedAt, c.want.Expiry, c.want.ObtainedAt, c.want.AuthorizedAt)
			}
			d.Expiry, d.ObtainedAt, d.AuthorizedAt = time.Time{}, time.Time{}, time.Time{}
			c.want.Expiry, c.want.ObtainedAt, c.want.AuthorizedAt = time.Time{}, time.Time{}, time.Time{}
			if d != c.want {
				t.Fatalf("got %+v, want %+v", d, c.want)
			}
		})
	}
}

// FuzzDelivery: the decoder never panics, an accepted delivery is usable, and a
// refusal never quotes a value of the body.
func FuzzDelivery(f *testing.F) {
	for _, s := range []string{
		`{"refresh_token":"RT"}`,
		`{"refresh_token":"RT","access_token":"AT","expires_in":3600,"scope":"user-read-private"}`,
		`{"refresh_token":"RT","access_token":"AT","expires_at":"2026-11-25T13:00:00Z"}`,
		`{"refresh_token":"RT","access_token":"AT","expires_at":1795611600}`,
		`{"refresh_token":"RT","obtained_at":"2026-11-25T11:00:00Z","authorized_at":1795600000}`,
		`{"refresh_token":"RT","access_token":"AT","expires_in":10,"expires_at":10}`,
		`{"refresh_token":""}`, `{"refresh_token":null}`, `{"REFRESH_TOKEN":"RT"}`, `{"refresh_token":"RT","x":1}`,
		`{"refresh_token":"RT"} {}`, `{"refresh_token":"RT"`, `[]`, `null`, `""`, ``, `{}`,
		`{"refresh_token":"RT","expires_in":-1,"access_token":"A"}`, `{"refresh_token":"RT","obtained_at":"9999-12-31T23:59:59Z"}`,
		`{"refresh_token":"very-secret-refresh-token","obtained_at":"very-secret-refresh-token"}`,
		`{"refresh_token":"\u00e9\u0000"}`, `{"refresh_token":"RT","refresh_token":""}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		d, err := decodeDelivery(strings.NewReader(body), fuzzNow)
		if err != nil {
			var br *badRequest
			if !errors.As(err, &br) || br.status != http.StatusBadRequest || br.msg == "" {
				t.Fatalf("error %T %v", err, err)
			}
			for _, v := range stringValues(body) {
				if strings.Contains(br.msg, v) {
					t.Fatalf("message %q quotes the value %q", br.msg, v)
				}
			}
			return
		}
		switch {
		case d.RefreshToken == "" || !tokenChars(d.RefreshToken):
			t.Fatalf("accepted refresh token %q", d.RefreshToken)
		case d.AccessToken != "" && (d.Expiry.IsZero() || !tokenChars(d.AccessToken)):
			t.Fatalf("accepted access token %q expiring %v", d.AccessToken, d.Expiry)
		case d.AccessToken == "" && !d.Expiry.IsZero():
			t.Fatal("expiry without access token")
		case d.ObtainedAt.After(fuzzNow.Add(futureSkew)) || d.AuthorizedAt.After(fuzzNow.Add(futureSkew)):
			t.Fatal("accepted a time in the future")
		}
	})
}

// stringValues returns the long string values of a JSON object that are not also
// keys (a refused unknown field is named in the message).
func stringValues(body string) []string {
	var m map[string]any
	if json.Unmarshal([]byte(body), &m) != nil {
		return nil
	}
	var out []string
	for _, v := range m {
		if s, ok := v.(string); ok && len(s) >= 16 {
			if _, isKey := m[s]; !isKey {
				out = append(out, s)
			}
		}
	}
	return out
}

// FuzzAccountID: any account id in the path is either valid and usable end to end,
// or refused without a 2xx, and never a 5xx.
func FuzzAccountID(f *testing.F) {
	for _, s := range []string{
		"alice", "a.b_c-d@e.f", "A", strings.Repeat("x", 128), strings.Repeat("x", 129), "", ".", "..", "...",
		"a/b", "a b", "a%2Fb", "%41", "é", "a?b", "a#b", "\x00", "a\nb", "app", "-", "@",
	} {
		f.Add(s)
	}
	e := newEnv(f, envOption{})
	f.Fuzz(func(t *testing.T, id string) {
		valid := tokenstore.ValidAccount(id) && id != "." && id != ".." // dot segments are cleaned away by the mux
		w := serve(t, e.h, req{method: "PUT", path: accountPath(id, "/token"), body: `{"refresh_token":"RT-fuzz","access_token":"AT-fuzz","expires_in":3600}`})
		check := func(w *httptest.ResponseRecorder, ok int) {
			t.Helper()
			switch {
			case w.Code >= 500:
				t.Fatalf("id %q: status %d", id, w.Code)
			case valid && w.Code != ok:
				t.Fatalf("valid id %q: status %d, want %d: %s", id, w.Code, ok, w.Body.String())
			case !valid && w.Code < 300:
				t.Fatalf("invalid id %q accepted with %d", id, w.Code)
			}
		}
		check(w, http.StatusNoContent)
		if valid {
			if rec, ok := e.record(t, id); !ok || rec.RefreshToken != "RT-fuzz" {
				t.Fatalf("id %q not stored under its own name", id)
			}
		}
		check(serve(t, e.h, req{method: "GET", path: accountPath(id, "/token")}), http.StatusOK)
		check(serve(t, e.h, req{method: "DELETE", path: accountPath(id, "")}), http.StatusNoContent)
		if recs, _, _ := e.store.List(context.Background(), "", 10); len(recs) != 0 {
			t.Fatalf("id %q left %d records", id, len(recs))
		}
	})
}

func accountPath(id, suffix string) string {
	return "/admin/v1/accounts/" + url.PathEscape(id) + suffix
}
