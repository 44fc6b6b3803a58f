package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// pingFails is a token source whose store does not answer.
type pingFails struct {
	*tokenstore.Source
	err error
}

func (p pingFails) Ping(context.Context) error { return p.err }

func TestHealthz(t *testing.T) {
	e := newEnv(t, envOption{})
	w := e.do(t, req{method: "GET", path: "/healthz", auth: "-"})
	wantStatus(t, w, http.StatusOK)
	if got := strings.TrimSpace(w.Body.String()); got != "ok" {
		t.Fatalf("body %q", got)
	}
	e.srv.SetDraining()
	wantStatus(t, e.do(t, req{method: "GET", path: "/healthz", auth: "-"}), http.StatusOK)
}

func TestReadyz(t *testing.T) {
	e := newEnv(t, envOption{})
	wantStatus(t, e.do(t, req{method: "GET", path: "/readyz", auth: "-"}), http.StatusOK)

	t.Run("store down", func(t *testing.T) {
		secret := "redis://user:hunter2-password@10.0.0.7:6379"
		down := newEnv(t, envOption{admin: func(c *Config) {
			c.Tokens = pingFails{Source: c.Tokens.(*tokenstore.Source), err: errors.New("dial " + secret + ": connection refused")}
		}})
		for range 2 {
			w := down.do(t, req{method: "GET", path: "/readyz", auth: "-"})
			wantStatus(t, w, http.StatusServiceUnavailable)
			if strings.Contains(w.Body.String(), "hunter2") || !strings.Contains(w.Body.String(), "store") {
				t.Fatalf("body %q: must say why without the error's details", w.Body.String())
			}
		}
		if n := strings.Count(down.logs.String(), "not ready"); n != 1 {
			t.Fatalf("%d 'not ready' log lines for 2 failed probes, want 1 (transitions only)", n)
		}
	})

	e.srv.SetDraining()
	w := e.do(t, req{method: "GET", path: "/readyz", auth: "-"})
	wantStatus(t, w, http.StatusServiceUnavailable)
	if !strings.Contains(w.Body.String(), "draining") {
		t.Fatalf("body %q", w.Body.String())
	}
}

func TestMetricsEndpoint(t *testing.T) {
	e := newEnv(t, envOption{})
	w := e.do(t, req{method: "GET", path: "/metrics", auth: "-"})
	wantStatus(t, w, http.StatusOK)
	for _, want := range []string{
		`spotify_proxy_token_refreshes_total{result="success",trigger="login"} 0`,
		"spotify_proxy_accounts",
	} {
		if !strings.Contains(w.Body.String(), want) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}
}

func TestAdminDisabledWithoutToken(t *testing.T) {
	e := newEnv(t, envOption{admin: func(c *Config) {
		c.AdminToken = ""
		c.Login = &fakeLogin{}
		c.RedirectURL = "http://127.0.0.1:9090/auth/callback"
	}})
	for _, r := range []req{
		{method: "GET", path: "/admin/v1/accounts"},
		{method: "PUT", path: "/admin/v1/accounts/a/token", body: `{"refresh_token":"x"}`},
		{method: "GET", path: "/admin/v1/accounts/a/token"},
		{method: "DELETE", path: "/admin/v1/accounts/a"},
		{method: "GET", path: "/auth/login?account=a"},
		{method: "POST", path: "/auth/login", body: "account=a"},
		{method: "GET", path: "/auth/signin"},
		{method: "POST", path: "/auth/signin", body: "token=" + testAdminToken},
		{method: "POST", path: "/auth/signout"},
		{method: "GET", path: "/auth/callback?state=x&code=y"},
	} {
		if w := e.do(t, r); w.Code != http.StatusNotFound {
			t.Errorf("%s %s: status %d, want 404", r.method, r.path, w.Code)
		}
	}
	wantStatus(t, e.do(t, req{method: "GET", path: "/healthz"}), http.StatusOK)
}

func TestLoginDisabled(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"no redirect URL": func(c *Config) { c.Login = &fakeLogin{} },
		"no client":       func(c *Config) { c.RedirectURL = "http://127.0.0.1:9090/auth/callback" },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOption{admin: mutate})
			wantStatus(t, e.do(t, req{method: "GET", path: "/auth/login?account=a"}), http.StatusNotFound)
			wantStatus(t, e.do(t, req{method: "POST", path: "/auth/signin", body: "token=" + testAdminToken}), http.StatusNotFound)
			wantStatus(t, e.do(t, req{method: "GET", path: "/auth/callback?state=x&code=y"}), http.StatusNotFound)
			wantStatus(t, e.do(t, req{method: "GET", path: "/admin/v1/accounts"}), http.StatusOK)
		})
	}
}

func TestAdminAuth(t *testing.T) {
	e := newEnv(t, envOption{})
	endpoints := []req{
		{method: "PUT", path: "/admin/v1/accounts/alice/token", body: `{"refresh_token":"RT-alice"}`},
		{method: "GET", path: "/admin/v1/accounts/alice/token"},
		{method: "GET", path: "/admin/v1/accounts"},
		{method: "DELETE", path: "/admin/v1/accounts/alice"},
		{method: "GET", path: "/admin/v1/no-such-thing"}, // authentication before routing
		{method: "POST", path: "/admin/v1/accounts"},
	}
	failures := map[string]string{
		"missing":          "-",
		"wrong token":      "Bearer not-the-admin-token",
		"token prefix":     "Bearer " + testAdminToken[:len(testAdminToken)-1],
		"token extended":   "Bearer " + testAdminToken + "x",
		"wrong scheme":     "Basic " + basic("admin", testAdminToken),
		"scheme only":      "Bearer",
		"token no scheme":  testAdminToken,
		"empty bearer":     "Bearer   ",
		"other scheme tok": "Token " + testAdminToken,
	}
	for _, r := range endpoints {
		for name, auth := range failures {
			r := r
			r.auth = auth
			w := e.do(t, r)
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("%s %s, %s: status %d, want 401", r.method, r.path, name, w.Code)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="spotify-token-proxy"` {
				t.Fatalf("WWW-Authenticate %q", got)
			}
			wantError(t, w, http.StatusUnauthorized, "ADMIN_UNAUTHORIZED")
		}
	}
	if _, ok := e.record(t, "alice"); ok {
		t.Fatal("an unauthenticated PUT stored a token")
	}

	// Success of each endpoint; the scheme is case-insensitive.
	wantStatus(t, e.do(t, req{method: "PUT", path: "/admin/v1/accounts/alice/token", body: `{"refresh_token":"RT-alice"}`,
		auth: "bearer " + testAdminToken}), http.StatusNoContent)
	wantStatus(t, e.do(t, req{method: "GET", path: "/admin/v1/accounts/alice/token"}), http.StatusOK)
	wantStatus(t, e.do(t, req{method: "GET", path: "/admin/v1/accounts"}), http.StatusOK)
	wantStatus(t, e.do(t, req{method: "DELETE", path: "/admin/v1/accounts/alice"}), http.StatusNoContent)
	wantStatus(t, e.do(t, req{method: "POST", path: "/admin/v1/accounts"}), http.StatusMethodNotAllowed)
	wantStatus(t, e.do(t, req{method: "GET", path: "/admin/v1/no-such-thing"}), http.StatusNotFound)
}

func TestBearer(t *testing.T) {
	for h, want := range map[string]string{
		"Bearer abc": "abc", "bearer abc": "abc", "BEARER  abc ": "abc", " Bearer abc": "abc",
		"Bearer": "", "Bearer ": "", "Basic abc": "", "": "", "abc": "",
	} {
		got, ok := bearer(h)
		if got != want || ok != (want != "") {
			t.Errorf("bearer(%q) = %q, %v; want %q", h, got, ok, want)
		}
	}
}
