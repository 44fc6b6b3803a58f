package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

// TestBackgroundValidationFindsRevokedAccount: the binary with VALIDATE_EVERY finds a
// user's revoked grant with no request through the proxy: the account turns
// reauth_required, account.reauth_required is in the event log, the refresh is
// counted with trigger validate; an account whose grant works is refreshed and
// stays ok.
func TestBackgroundValidationFindsRevokedAccount(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	emu := startEmulator(t, spotifyemu.Options{ClientID: "val-client", ClientSecret: "val-secret", TokenLifetime: time.Hour})
	const adminToken = "e2e-admin-token-0123456789"
	p := startProxy(t, emu.env(t, map[string]string{
		"ADMIN_TOKEN": adminToken, "VALIDATE_EVERY": "2s", "VALIDATE_RATE": "10/s",
	}))
	call := func(method, path, body string) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+p.admin+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return b
	}
	deliver := func(account, rt string) {
		call("PUT", "/admin/v1/accounts/"+account+"/token", `{"refresh_token":"`+rt+`"}`)
	}
	deliver("alice", emu.IssueRefreshToken("user-read-private"))
	emu.RevokeRefreshTokens() // alice's grant is revoked; bob's comes after
	deliver("bob", emu.IssueRefreshToken("user-read-private"))
	apiCalls := emu.Stats().APICalls

	statuses := func() map[string]string {
		var l struct {
			Accounts []struct{ ID, Status string } `json:"accounts"`
		}
		if err := json.Unmarshal(call("GET", "/admin/v1/accounts", ""), &l); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, a := range l.Accounts {
			out[a.ID] = a.Status
		}
		return out
	}
	validated := func(result string) bool {
		resp, err := http.Get("http://" + p.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, `spotify_proxy_token_refreshes_total{result="`+result+`",trigger="validate"} `) {
				return !strings.HasSuffix(line, " 0")
			}
		}
		t.Fatalf("no validate/%s series in /metrics", result)
		return false
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := statuses()
		if s["alice"] == "reauth_required" && validated("invalid_grant") && validated("success") {
			if s["bob"] != "ok" {
				t.Fatalf("bob, whose grant works, is %q", s["bob"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no validation within 20s: statuses %v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := emu.Stats().APICalls; got != apiCalls {
		t.Fatalf("%d Web API calls: the validation should need none", got-apiCalls)
	}
	var events struct {
		Events []struct{ Type, Account string } `json:"events"`
	}
	if err := json.Unmarshal(call("GET", "/admin/v1/events?limit=1000", ""), &events); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range events.Events {
		found = found || (e.Type == "account.reauth_required" && e.Account == "alice")
	}
	if !found {
		t.Fatalf("no account.reauth_required event for alice: %+v", events.Events)
	}
	if !strings.Contains(p.logs.String(), "background validation on") {
		t.Fatal("no start-up line about the validation")
	}
	p.stop(t)
}
