package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const e2eWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// webhookArrival is one verified request the receiver got.
type webhookArrival struct {
	typ, account string
	at           time.Time
}

// TestAccountEventsEndToEnd: the binary, configured with WEBHOOK_URL and
// WEBHOOK_SECRET, sends signed account.linked and account.deleted events for admin
// API calls, and lists them on GET /admin/v1/events. It also measures the time from
// the admin call to the webhook request.
func TestAccountEventsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(e2eWebhookSecret, "whsec_"))
	got := make(chan webhookArrival, 100)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%s.%s", r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), body)
		if r.Header.Get("webhook-signature") != "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
			t.Errorf("bad signature on %s", body)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev struct{ Type, Account string }
		_ = json.Unmarshal(body, &ev)
		w.WriteHeader(http.StatusNoContent)
		got <- webhookArrival{ev.Type, ev.Account, time.Now()}
	}))
	defer rcv.Close()
	const adminToken = "e2e-admin-token-0123456789"
	p := startProxy(t, map[string]string{
		"SPOTIFY_CLIENT_ID": "c", "SPOTIFY_CLIENT_SECRET": "s", "TOKEN_FILE": filepath.Join(t.TempDir(), "tokens.json"),
		"ADMIN_TOKEN": adminToken, "WEBHOOK_URL": rcv.URL + "/hooks", "WEBHOOK_SECRET": e2eWebhookSecret,
	})
	call := func(method, path, body string) *http.Response {
		req, _ := http.NewRequest(method, "http://"+p.admin+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	const n = 50
	var lat []time.Duration
	for i := range n {
		start := time.Now()
		resp := call("PUT", fmt.Sprintf("/admin/v1/accounts/user-%d/token", i), `{"refresh_token":"RT-e2e-secret"}`)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PUT: %d", resp.StatusCode)
		}
		select {
		case a := <-got:
			if a.typ != "account.linked" || a.account != fmt.Sprintf("user-%d", i) {
				t.Fatalf("event %+v", a)
			}
			lat = append(lat, a.at.Sub(start))
		case <-time.After(10 * time.Second):
			t.Fatalf("no webhook for user-%d", i)
		}
	}
	slices.Sort(lat)
	t.Logf("admin PUT of a new account → signed webhook received (binary, file store), %d events: p50 %s, p95 %s, max %s",
		n, lat[n/2].Round(time.Microsecond), lat[n*95/100].Round(time.Microsecond), lat[n-1].Round(time.Microsecond))
	call("DELETE", "/admin/v1/accounts/user-0", "").Body.Close()
	select {
	case a := <-got:
		if a.typ != "account.deleted" || a.account != "user-0" {
			t.Fatalf("event %+v", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook for the deletion")
	}
	resp := call("GET", "/admin/v1/events?limit=1000", "")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var page struct {
		Events []struct{ ID, Type string } `json:"events"`
		Next   string                      `json:"next"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Events) != n+1 || page.Events[n].Type != "account.deleted" {
		t.Fatalf("GET /admin/v1/events: %v %s", err, body)
	}
	if strings.Contains(string(body), "RT-e2e-secret") || strings.Contains(p.logs.String(), "whsec_") {
		t.Fatal("a secret reached the events API or the logs")
	}
	p.stop(t)
}
