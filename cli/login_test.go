package cli

import (
	"strings"
	"testing"
)

// login prints the link and returns once the account is linked anew: status ok
// with an authorized_at other than before.
func TestLoginWaitsUntilLinked(t *testing.T) {
	f := newFakeAdmin("alice")
	f.accounts["alice"]["status"] = "reauth_required"
	f.onList = func(call int) {
		switch call {
		case 3: // the user approved: the callback stored a new token
			f.accounts["alice"]["status"] = "ok"
			f.accounts["alice"]["authorized_at"] = "2026-12-01T00:30:00Z"
		}
	}
	srv := newServer(t, f)
	r := runCLI(t, srv, nil, "", "login", "alice", "--interval=1ms", "--scope", "user-read-private streaming")
	r.want(t, 0, srv.URL+"/auth/login?account=alice&scope=user-read-private+streaming\n", "Waiting up to 10m0s")
	if !strings.Contains(r.stdout, "alice is linked") || f.lists() != 3 {
		t.Fatalf("after %d looks: %s", f.lists(), r.stdout)
	}

	// Already ok before, unchanged: not a new link.
	f2 := newFakeAdmin("bob")
	srv2 := newServer(t, f2)
	runCLI(t, srv2, nil, "", "login", "bob", "--interval=1ms", "--timeout=50ms").want(t, 1, "/auth/login?account=bob", "bob was not linked within 50ms (--timeout)")
	if f2.lists() < 2 {
		t.Fatal("login did not poll")
	}

	// A new account counts as soon as it is there.
	f3 := newFakeAdmin()
	f3.onList = func(call int) {
		if call == 2 {
			f3.accounts["carol"] = map[string]any{"id": "carol", "status": "ok", "authorized_at": "2026-12-01T00:00:00Z"}
		}
	}
	runCLI(t, newServer(t, f3), nil, "", "login", "carol", "--interval=1ms").want(t, 0, "carol is linked", "")

	// In the pod, the link is on PUBLIC_ADMIN_URL, where a browser reaches the admin pages.
	f5 := newFakeAdmin()
	f5.onList = func(call int) {
		if call == 2 {
			f5.accounts["erin"] = map[string]any{"id": "erin", "status": "ok", "authorized_at": "2026-12-01T00:00:00Z"}
		}
	}
	runCLI(t, newServer(t, f5), map[string]string{"PUBLIC_ADMIN_URL": "https://admin.example.com/"}, "", "login", "erin", "--interval=1ms").
		want(t, 0, "https://admin.example.com/auth/login?account=erin\n", "")

	f4 := newFakeAdmin()
	f4.noLogin = true
	runCLI(t, newServer(t, f4), nil, "", "login", "dave").want(t, 1, "", "AUTH_REDIRECT_URL")
}

// Credentials in ADMIN_URL never reach the output: not the printed link, not an
// error naming the unreachable API.
func TestAdminURLCredentialsAreNotPrinted(t *testing.T) {
	f := newFakeAdmin("alice")
	srv := newServer(t, f)
	withCreds := strings.Replace(srv.URL, "http://", "http://ops:hunter2@", 1)
	r := runCLI(t, nil, map[string]string{"ADMIN_URL": withCreds}, "", "login", "alice", "--interval=1ms", "--timeout=20ms")
	if strings.Contains(r.stdout+r.stderr, "hunter2") || !strings.Contains(r.stdout, "/auth/login?account=alice") {
		t.Fatalf("stdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
	r = runCLI(t, nil, map[string]string{"ADMIN_URL": "http://ops:hunter2@127.0.0.1:1"}, "", "accounts", "list")
	if r.code != 1 || strings.Contains(r.stderr, "hunter2") || !strings.Contains(r.stderr, "cannot reach the admin API") {
		t.Fatalf("exit %d, stderr: %s", r.code, r.stderr)
	}
}
