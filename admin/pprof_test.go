package admin

import (
	"net/http"
	"strings"
	"testing"
)

// pprofPaths are the index, a named profile and the handlers mounted by name.
var pprofPaths = []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline", "/debug/pprof/symbol"}

func TestPprofBehindAdminToken(t *testing.T) {
	e := newEnv(t, envOption{admin: func(c *Config) { c.Pprof = true }})
	for _, path := range pprofPaths {
		w := e.do(t, req{method: "GET", path: path})
		wantStatus(t, w, http.StatusOK)
		if path == "/debug/pprof/" && !strings.Contains(w.Body.String(), "goroutine") {
			t.Fatalf("the index does not list the profiles: %q", w.Body.String())
		}
		for _, auth := range []string{"-", "Bearer not-the-admin-token"} {
			w := e.do(t, req{method: "GET", path: path, auth: auth})
			wantError(t, w, http.StatusUnauthorized, "ADMIN_UNAUTHORIZED")
			if strings.Contains(w.Body.String(), "goroutine") {
				t.Fatalf("%s without the token shows a profile", path)
			}
		}
	}
}

func TestPprofOff(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"PPROF=false":         func(c *Config) {},
		"PPROF without token": func(c *Config) { c.Pprof = true; c.AdminToken = "" },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOption{admin: mutate})
			for _, path := range pprofPaths {
				wantStatus(t, e.do(t, req{method: "GET", path: path}), http.StatusNotFound)
			}
		})
	}
}
