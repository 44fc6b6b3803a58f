package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// recordingRT is an in-memory upstream that records the last request's headers.
type recordingRT struct {
	staticRT
	last http.Header
}

func (r *recordingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r.last = req.Header.Clone()
	return r.staticRT.RoundTrip(req)
}

// FuzzHeaders: whatever account and credential headers a caller sends, the proxy
// either refuses the account with PROXY_BAD_ACCOUNT or forwards exactly its own
// bearer token, never the caller's credentials or X-Spotify-Account.
func FuzzHeaders(f *testing.F) {
	f.Add("alice", "Bearer caller", "Bearer p")
	f.Add("", "", "")
	f.Add("a b", "Basic xyz", "")
	f.Add(strings.Repeat("a", 129), "Bearer x", "Bearer y")
	f.Add("al\x00ice", "Bearer\r\nX: y", "")
	f.Add("user@example.com", "bearer lower", "Bearer ")
	f.Fuzz(func(t *testing.T, account, auth, pauth string) {
		rt := &recordingRT{staticRT: staticRT{benchBody}}
		u, _ := url.Parse("http://upstream")
		p, _ := proxy.New(proxy.Config{Upstream: u, Transport: rt, Tokens: &fakeTokens{}})
		req := httptest.NewRequest("GET", "/v1/me", nil)
		req.Header["X-Spotify-Account"] = []string{account}
		req.Header["Authorization"] = []string{auth}
		req.Header["Proxy-Authorization"] = []string{pauth}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		if !tokenstore.ValidAccount(account) {
			if w.Code != 400 || !strings.Contains(w.Body.String(), "PROXY_BAD_ACCOUNT") || rt.last != nil {
				t.Fatalf("invalid account %q: %d %s", account, w.Code, w.Body)
			}
			return
		}
		if w.Code != 200 || rt.last == nil {
			t.Fatalf("valid account %q: %d", account, w.Code)
		}
		if got := rt.last.Values("Authorization"); len(got) != 1 || got[0] != "Bearer tok-"+account+"-0" {
			t.Fatalf("upstream Authorization %q", got)
		}
		if rt.last.Get("X-Spotify-Account") != "" || rt.last.Get("Proxy-Authorization") != "" {
			t.Fatal("caller header forwarded")
		}
	})
}
