package cli

import (
	"strings"
	"testing"
)

func TestIsCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--listen-addr=127.0.0.1:1"}, false},
		{[]string{"--help"}, true},
		{[]string{"-h"}, true},
		{[]string{"--listen-addr=x", "--help"}, true},
		{[]string{"--version"}, true},
		{[]string{"accounts", "list"}, true},
		{[]string{"bogus"}, true},
	} {
		if got := IsCommand(tc.args); got != tc.want {
			t.Errorf("IsCommand(%q) = %v", tc.args, got)
		}
	}
}

func TestHelpVersionAndUsageErrors(t *testing.T) {
	r := runCLI(t, nil, nil, "", "--help")
	r.want(t, 0, "REFRESH_AHEAD", "")
	for _, s := range []string{"accounts list", "token put ID --refresh-token-file", "check-config", "ADMIN_TOKEN_FILE"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("--help lacks %q", s)
		}
	}
	runCLI(t, nil, nil, "", "--version").want(t, 0, "spotify-token-proxy v9.9.9-test\n", "")
	runCLI(t, nil, nil, "", "version").want(t, 0, "spotify-token-proxy v9.9.9-test\n", "")
	runCLI(t, nil, nil, "", "accounts", "list", "--help").want(t, 0, "-status", "")
	runCLI(t, nil, nil, "", "frobnicate").want(t, 2, "", `unknown command "frobnicate"`)
	runCLI(t, nil, nil, "", "accounts").want(t, 2, "", "accounts needs a subcommand")
	runCLI(t, nil, nil, "", "accounts", "list", "--bogus").want(t, 2, "", "-bogus")
	runCLI(t, nil, nil, "", "accounts", "list", "-o", "yaml").want(t, 2, "", `-o: "yaml": want table or json`)
	runCLI(t, nil, nil, "", "accounts", "get").want(t, 2, "", "accounts get: missing ID")
	runCLI(t, nil, nil, "", "accounts", "delete", "a", "b").want(t, 2, "", `unexpected argument "b"`)
	runCLI(t, nil, nil, "", "login", "alice", "--timeout=soon").want(t, 2, "", "-timeout")
}

func TestConnectionSettingsNameTheirSource(t *testing.T) {
	srv := newServer(t, newFakeAdmin("alice"))
	runCLI(t, srv, map[string]string{"ADMIN_TOKEN": ""}, "", "accounts", "list").want(t, 2, "", "ADMIN_TOKEN or ADMIN_TOKEN_FILE")
	runCLI(t, srv, map[string]string{"ADMIN_URL": "ftp://x"}, "", "accounts", "list").want(t, 2, "", "ADMIN_URL: ")
	runCLI(t, srv, map[string]string{"ADMIN_URL": "ftp://x"}, "", "accounts", "list", "--admin-url", "nope").want(t, 2, "", "--admin-url: ")
	// --admin-url wins over ADMIN_URL.
	runCLI(t, srv, map[string]string{"ADMIN_URL": "ftp://x"}, "", "accounts", "list", "--admin-url", srv.URL).want(t, 0, "alice", "")
	runCLI(t, srv, map[string]string{"ADMIN_TOKEN_FILE": "/nonexistent/token"}, "", "accounts", "list").want(t, 2, "", "ADMIN_TOKEN_FILE: set either")
	runCLI(t, srv, map[string]string{"ADMIN_TOKEN": "", "ADMIN_TOKEN_FILE": "/nonexistent/token"}, "", "accounts", "list").want(t, 2, "", "ADMIN_TOKEN_FILE: cannot read /nonexistent/token")
	file := writeFile(t, testToken+"\n")
	runCLI(t, srv, map[string]string{"ADMIN_TOKEN": "", "ADMIN_TOKEN_FILE": file}, "", "accounts", "list").want(t, 0, "alice", "")
	runCLI(t, srv, map[string]string{"ADMIN_TOKEN": ""}, "", "accounts", "list", "--admin-token-file", file).want(t, 0, "alice", "")
	r := runCLI(t, srv, map[string]string{"ADMIN_TOKEN": "wrong-token-0123456789"}, "", "accounts", "list")
	r.want(t, 1, "", "401 Unauthorized ADMIN_UNAUTHORIZED")
	if !strings.Contains(r.stderr, "check ADMIN_TOKEN") || strings.Contains(r.stderr, "wrong-token") {
		t.Fatalf("stderr %q", r.stderr)
	}
	srv.Close()
	runCLI(t, srv, nil, "", "accounts", "list").want(t, 1, "", "cannot reach the admin API at "+srv.URL)
}

func TestCheckConfig(t *testing.T) {
	r := runCLI(t, nil, map[string]string{"SPOTIFY_CLIENT_ID": "id", "SPOTIFY_CLIENT_SECRET": "very-secret"}, "", "check-config")
	r.want(t, 0, "The configuration is valid", "")
	if !strings.Contains(r.stdout, "SPOTIFY_CLIENT_ID") || strings.Contains(r.stdout, "very-secret") || !strings.Contains(r.stdout, "(set, redacted)") {
		t.Fatalf("settings: %s", r.stdout)
	}
	runCLI(t, nil, nil, "", "check-config").want(t, 2, "", "SPOTIFY_CLIENT_ID: required")
}

// In the proxy's own pod, ADMIN_ADDR (a wildcard host means loopback) finds the
// admin API when ADMIN_URL is not set.
func TestAdminURLFromAdminAddr(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:9091": "http://127.0.0.1:9091", ":9092": "http://127.0.0.1:9092", "[::]:9093": "http://127.0.0.1:9093",
		"10.0.0.7:9094": "http://10.0.0.7:9094", "[::1]:9095": "http://[::1]:9095", "": "", "nonsense": "",
	} {
		if got := fromAdminAddr(addr); got != want {
			t.Errorf("fromAdminAddr(%q) = %q, want %q", addr, got, want)
		}
	}
	srv := newServer(t, newFakeAdmin("alice"))
	runCLI(t, nil, map[string]string{"ADMIN_ADDR": strings.TrimPrefix(srv.URL, "http://")}, "", "accounts", "list").want(t, 0, "alice", "")
	runCLI(t, srv, map[string]string{"ADMIN_ADDR": "127.0.0.1:1"}, "", "accounts", "list").want(t, 0, "alice", "") // ADMIN_URL wins
}
