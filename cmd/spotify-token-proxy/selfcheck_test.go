package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/buildinfo"
)

func runOneShot(t *testing.T, env map[string]string, args ...string) (code int, ok bool, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code, ok = oneShot(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return code, ok, out.String(), errOut.String()
}

func TestOneShotVersion(t *testing.T) {
	for _, arg := range []string{"version", "-version", "--version"} {
		code, ok, out, _ := runOneShot(t, nil, arg)
		if !ok || code != 0 || strings.TrimSpace(out) != buildinfo.String() {
			t.Errorf("%s: code %d ok %v out %q, want %q", arg, code, ok, out, buildinfo.String())
		}
	}
	if _, ok, _, _ := runOneShot(t, nil, "--listen-addr", "127.0.0.1:0"); ok {
		t.Errorf("a proxy flag was taken for a one-shot command")
	}
	if _, ok, _, _ := runOneShot(t, nil); ok {
		t.Errorf("no arguments was taken for a one-shot command")
	}
}

// readyzServer answers /readyz with status on an admin-like listener bound to addr.
func readyzServer(t *testing.T, network, addr string, status int) string {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatalf("cannot listen on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return ln.Addr().String()
}

func TestHealthcheckFollowsReadyz(t *testing.T) {
	ready := readyzServer(t, "tcp4", "127.0.0.1:0", http.StatusOK)
	if code, ok, _, stderr := runOneShot(t, map[string]string{"ADMIN_ADDR": ready}, "healthcheck"); !ok || code != 0 {
		t.Errorf("ready: code %d (%s), want 0", code, stderr)
	}
	notReady := readyzServer(t, "tcp4", "127.0.0.1:0", http.StatusServiceUnavailable)
	code, ok, _, stderr := runOneShot(t, map[string]string{"ADMIN_ADDR": notReady}, "healthcheck")
	if !ok || code != 1 || !strings.Contains(stderr, "503") {
		t.Errorf("not ready: code %d stderr %q, want 1 naming the 503", code, stderr)
	}
	// --url wins over ADMIN_ADDR.
	if code, _, _, stderr := runOneShot(t, map[string]string{"ADMIN_ADDR": notReady}, "healthcheck", "--url", "http://"+ready+"/readyz"); code != 0 {
		t.Errorf("--url: code %d (%s), want 0", code, stderr)
	}
	// Nothing listening: exit 1.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if code, _, _, _ := runOneShot(t, map[string]string{"ADMIN_ADDR": closed}, "healthcheck"); code != 1 {
		t.Errorf("no listener: code %d, want 1", code)
	}
}

// TestHealthcheckUnspecifiedAddr: the image sets ADMIN_ADDR=0.0.0.0:9090; the check
// must reach it on loopback.
func TestHealthcheckUnspecifiedAddr(t *testing.T) {
	addr := readyzServer(t, "tcp4", "0.0.0.0:0", http.StatusOK)
	_, port, _ := net.SplitHostPort(addr)
	if code, _, _, stderr := runOneShot(t, map[string]string{"ADMIN_ADDR": "0.0.0.0:" + port}, "healthcheck"); code != 0 {
		t.Errorf("code %d (%s), want 0", code, stderr)
	}
}

func TestReadyzURL(t *testing.T) {
	for in, want := range map[string]string{
		"":               "http://127.0.0.1:9090/readyz",
		"0.0.0.0:9090":   "http://127.0.0.1:9090/readyz",
		":9191":          "http://127.0.0.1:9191/readyz",
		"[::]:9090":      "http://[::1]:9090/readyz",
		"10.1.2.3:9090":  "http://10.1.2.3:9090/readyz",
		"localhost:9090": "http://localhost:9090/readyz",
	} {
		if got, err := readyzURL(in); err != nil || got != want {
			t.Errorf("readyzURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := readyzURL("9090"); err == nil || !strings.Contains(err.Error(), "ADMIN_ADDR") {
		t.Errorf("readyzURL(9090) error %v, want one naming ADMIN_ADDR", err)
	}
	if code, _, _, stderr := runOneShot(t, map[string]string{"ADMIN_ADDR": "nonsense"}, "healthcheck"); code != 1 || !strings.Contains(stderr, "ADMIN_ADDR") {
		t.Errorf("bad ADMIN_ADDR: code %d stderr %q", code, stderr)
	}
}
