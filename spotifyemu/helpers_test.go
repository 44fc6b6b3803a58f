package spotifyemu_test

import (
	"github.com/spotify-token-proxy/spotify-token-proxy/internal/testclock"

	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

const (
	testClientID     = "test-client"
	testClientSecret = "test-secret"
)

// fakeClock is the injected clock: tests move it instead of sleeping.
type fakeClock = testclock.Clock

func newFakeClock() *fakeClock { return testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) }

type env struct {
	emu   *spotifyemu.Emulator
	srv   *httptest.Server
	clock *fakeClock
}

// newEnv starts an emulator on an httptest server with a fake clock; modify
// may change the options first.
func newEnv(t *testing.T, modify func(*spotifyemu.Options)) *env {
	t.Helper()
	clock := newFakeClock()
	opts := spotifyemu.Options{ClientID: testClientID, ClientSecret: testClientSecret, Now: clock.Now}
	if modify != nil {
		modify(&opts)
	}
	emu := spotifyemu.New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &env{emu: emu, srv: srv, clock: clock}
}

// oauthConfig is an x/oauth2 client of the emulator with credentials in the
// Authorization header, as Spotify recommends.
func (e *env) oauthConfig() *oauth2.Config {
	return &oauth2.Config{
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   e.srv.URL + "/authorize",
			TokenURL:  e.srv.URL + "/api/token",
			AuthStyle: oauth2.AuthStyleInHeader,
		},
		RedirectURL: "http://127.0.0.1:9999/callback",
	}
}

// refresh makes an x/oauth2 refresh with rt and returns the new token.
func (e *env) refresh(t *testing.T, rt string) (*oauth2.Token, error) {
	t.Helper()
	return e.oauthConfig().TokenSource(context.Background(), &oauth2.Token{RefreshToken: rt}).Token()
}

// tokenAnswer is a raw answer of the token endpoint.
type tokenAnswer struct {
	status int
	header http.Header
	body   map[string]any
}

func (a tokenAnswer) str(key string) string {
	s, _ := a.body[key].(string)
	return s
}

// postForm posts form to /api/token, with Basic client credentials when
// basic is true.
func (e *env) postForm(t *testing.T, form url.Values, basic bool) tokenAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/api/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(testClientID, testClientSecret)
	}
	return e.doToken(t, req)
}

func (e *env) doToken(t *testing.T, req *http.Request) tokenAnswer {
	t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := tokenAnswer{status: resp.StatusCode, header: resp.Header}
	if err := json.NewDecoder(resp.Body).Decode(&a.body); err != nil {
		t.Fatalf("token answer %d is not JSON: %v", resp.StatusCode, err)
	}
	return a
}

// accessToken returns a fresh access token of a new user.
func (e *env) accessToken(t *testing.T) string {
	t.Helper()
	tok, err := e.refresh(t, e.emu.IssueRefreshToken("user-read-private"))
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// apiAnswer is a raw answer of the Web API.
type apiAnswer struct {
	resp *http.Response
	body []byte
}

func (a apiAnswer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("answer %d %q is not JSON: %v", a.resp.StatusCode, a.body, err)
	}
}

// call makes a Web API request; authorization is the whole header value
// ("" sends none).
func (e *env) call(t *testing.T, method, path, authorization, contentType string, body io.Reader) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return apiAnswer{resp: resp, body: b}
}

func (e *env) get(t *testing.T, path, token string) apiAnswer {
	t.Helper()
	return e.call(t, http.MethodGet, path, "Bearer "+token, "", nil)
}

// apiErrorBody decodes {"error":{"status","message"}}.
type apiErrorBody struct {
	Error struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
	} `json:"error"`
}

func wantAPIError(t *testing.T, a apiAnswer, status int, msg string) {
	t.Helper()
	if a.resp.StatusCode != status {
		t.Fatalf("status %d, want %d (body %s)", a.resp.StatusCode, status, a.body)
	}
	var e apiErrorBody
	a.json(t, &e)
	if e.Error.Status != status || e.Error.Message != msg {
		t.Fatalf("error body %s, want status %d message %q", a.body, status, msg)
	}
}

func wantTokenError(t *testing.T, a tokenAnswer, status int, code, desc string) {
	t.Helper()
	if a.status != status || a.str("error") != code || a.str("error_description") != desc {
		t.Fatalf("answer %d %v, want %d error %q description %q", a.status, a.body, status, code, desc)
	}
}

// noRedirectClient returns the answer of /authorize without following it.
func (e *env) authorize(t *testing.T, q url.Values) *http.Response {
	t.Helper()
	c := *e.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(e.srv.URL + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// authorizeCode runs /authorize with q on top of valid defaults and returns
// the code from the redirect.
func (e *env) authorizeCode(t *testing.T, q url.Values) string {
	t.Helper()
	full := url.Values{
		"client_id":     {testClientID},
		"response_type": {"code"},
		"redirect_uri":  {"http://127.0.0.1:9999/callback"},
		"state":         {"st"},
		"scope":         {"user-read-private user-read-email"},
	}
	for k, v := range q {
		full[k] = v
	}
	resp := e.authorize(t, full)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	code := loc.Query().Get("code")
	if code == "" || loc.Query().Get("state") != "st" {
		t.Fatalf("redirect %s has no code or wrong state", loc)
	}
	return code
}
