package admin

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// handlerTransport serves requests in process with a handler (no listener).
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, r)
	return w.Result(), nil
}

// browser is an HTTP client that behaves like a browser on the admin pages: it
// keeps cookies in a jar, sends Sec-Fetch-Site and Origin on form posts (same
// origin unless a test says otherwise) and does not follow redirects, so that a
// test sees each of them.
type browser struct {
	base string // the admin listener's origin, e.g. http://127.0.0.1:1234
	jar  *cookiejar.Jar
	c    *http.Client
}

func newBrowser(t testing.TB, base string, rt http.RoundTripper) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{
		Jar: jar, Transport: rt, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &browser{base: base, jar: jar, c: c}
}

// inProcessBrowser is a browser for a handler served without a listener.
func inProcessBrowser(t testing.TB, h http.Handler) *browser {
	return newBrowser(t, "http://admin.test", handlerTransport{h})
}

func (l *loginEnv) newBrowser(t testing.TB) *browser {
	t.Helper()
	b := newBrowser(t, l.admin, nil)
	t.Cleanup(b.c.CloseIdleConnections)
	return b
}

// do sends a request to path (form != nil: a POST of form). hdr is added to the
// browser's own headers; a header set to "" is removed.
func (b *browser) do(t testing.TB, method, path string, form url.Values, hdr map[string]string) answer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method == http.MethodPost {
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.Header.Set("Origin", b.base)
	}
	for k, v := range hdr {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	resp, err := b.c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(data)}
}

func (b *browser) get(t testing.TB, path string) answer {
	t.Helper()
	return b.do(t, http.MethodGet, path, nil, nil)
}

func (b *browser) post(t testing.TB, path string, form url.Values, hdr map[string]string) answer {
	t.Helper()
	return b.do(t, http.MethodPost, path, form, hdr)
}

// signIn fills in the sign-in form with the admin token.
func (b *browser) signIn(t testing.TB) {
	t.Helper()
	a := b.get(t, "/auth/signin")
	if a.status != http.StatusOK || !strings.Contains(a.body, `name="token"`) {
		t.Fatalf("sign-in form: %d %s", a.status, a.body)
	}
	f := hiddenFields(a.body)
	f.Set("token", testAdminToken)
	a = b.post(t, "/auth/signin", f, nil)
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/auth/login" {
		t.Fatalf("sign-in: %d, Location %q: %s", a.status, a.header.Get("Location"), a.body)
	}
}

// sessionCookie returns the browser's session cookie ("" when it has none).
func (b *browser) sessionCookie(t testing.TB) string {
	t.Helper()
	u, _ := url.Parse(b.base)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

// setSessionCookie plants a session cookie (a copied or stolen one).
func (b *browser) setSessionCookie(t testing.TB, value string) {
	t.Helper()
	u, _ := url.Parse(b.base)
	b.jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: value, Path: "/"}})
}

// confirm opens the confirmation page of a login and returns it with its form.
func (b *browser) confirm(t testing.TB, query string) (answer, url.Values) {
	t.Helper()
	a := b.get(t, "/auth/login?"+query)
	if a.status != http.StatusOK || !strings.Contains(a.body, `action="/auth/login"`) {
		t.Fatalf("confirmation page: %d %s", a.status, a.body)
	}
	f := hiddenFields(a.body)
	if f.Get(csrfField) == "" || f.Get("account") == "" {
		t.Fatalf("the confirmation form lacks its fields: %v", f)
	}
	return a, f
}

// startLogin confirms a login and returns the redirect to Spotify's authorize page.
func (b *browser) startLogin(t testing.TB, query string) *url.URL {
	t.Helper()
	_, f := b.confirm(t, query)
	a := b.post(t, "/auth/login", f, nil)
	if a.status != http.StatusFound {
		t.Fatalf("POST /auth/login: status %d: %s", a.status, a.body)
	}
	loc, err := url.Parse(a.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// hiddenFields returns the hidden inputs of a page (the first of each name).
func hiddenFields(body string) url.Values {
	f := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		if !f.Has(m[1]) {
			f.Set(m[1], html.UnescapeString(m[2]))
		}
	}
	return f
}
