package main

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

// The binary wires PUBLIC_ADMIN_URL and ADMIN_SESSION_TTL into the admin pages:
// a sign-in posted from the public origin is accepted and gets a Secure __Host-
// cookie that lives ADMIN_SESSION_TTL; the session opens the confirmation page and
// its form starts the login. Basic auth opens nothing.
func TestAdminBrowserSession(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	emu := startEmulator(t, spotifyemu.Options{ClientID: "e2e-client", ClientSecret: "e2e-secret"})
	const adminToken = "e2e-admin-token-0123456789"
	p := startProxy(t, emu.env(t, map[string]string{
		"ADMIN_TOKEN":       adminToken,
		"AUTH_REDIRECT_URL": "https://admin.example.com/auth/callback", "PUBLIC_ADMIN_URL": "https://admin.example.com",
		"ADMIN_SESSION_TTL": "30m",
	}))
	// TLS ends at an ingress in front: the browser talks https to admin.example.com,
	// the pod sees plain http with its own Host.
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		r, err := http.NewRequest(method, "http://"+p.admin+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		resp, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	fromPublic := map[string]string{"Origin": "https://admin.example.com", "Sec-Fetch-Site": "same-origin"}

	resp, _ := send("GET", "/auth/login?account=alice", nil, map[string]string{"Authorization": "Basic " + "b3BzOmUyZS1hZG1pbi10b2tlbi0wMTIzNDU2Nzg5"})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/auth/signin?") {
		t.Fatalf("Basic auth on the login page: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	resp, _ = send("POST", "/auth/signin", url.Values{"token": {adminToken}}, fromPublic)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in from PUBLIC_ADMIN_URL's origin: %d", resp.StatusCode)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		session = c
	}
	if session == nil || session.Name != "__Host-stp-admin-session" || !session.Secure || !session.HttpOnly ||
		session.SameSite != http.SameSiteStrictMode || session.MaxAge != 1800 {
		t.Fatalf("session cookie %+v", session)
	}
	if strings.Contains(p.logs.String(), session.Value) || strings.Contains(p.logs.String(), adminToken) {
		t.Fatal("a secret appeared in the logs")
	}
	withCookie := map[string]string{"Cookie": session.Name + "=" + session.Value}
	resp, page := send("GET", "/auth/login?account=alice", nil, withCookie)
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("confirmation page: %d %s", resp.StatusCode, page)
	}
	for k, v := range fromPublic {
		withCookie[k] = v
	}
	resp, _ = send("POST", "/auth/login", url.Values{"account": {"alice"}, "csrf_token": {m[1]}}, withCookie)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, emu.URL+"/authorize?") {
		t.Fatalf("POST /auth/login: %d → %q", resp.StatusCode, loc)
	}
	withCookie["Origin"] = "https://evil.example"
	if resp, _ = send("POST", "/auth/login", url.Values{"account": {"alice"}, "csrf_token": {m[1]}}, withCookie); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a foreign origin: %d", resp.StatusCode)
	}
	p.stop(t)
}
