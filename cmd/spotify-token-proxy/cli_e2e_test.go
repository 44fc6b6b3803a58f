package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

// runBinary runs the built binary with env (and PATH) and returns its exit status
// and output.
func runBinary(t *testing.T, env []string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// The CLI against a running proxy and the emulator: deliveries by file and stdin,
// the list, get, delete, and a login completed through the emulator's authorize
// page while `login` waits.
func TestCLIAgainstRunningProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	emu := spotifyemu.New(spotifyemu.Options{ClientID: "cli-client", ClientSecret: "cli-secret", TokenLifetime: time.Hour})
	es := httptest.NewServer(emu)
	defer es.Close()
	const adminToken = "cli-admin-token-0123456789"
	adminAddr := freeAddr(t)
	p := startProxy(t, map[string]string{
		"SPOTIFY_CLIENT_ID": "cli-client", "SPOTIFY_CLIENT_SECRET": "cli-secret",
		"SPOTIFY_REFRESH_TOKEN": emu.IssueRefreshToken("user-read-private"),
		"SPOTIFY_API_URL":       es.URL, "SPOTIFY_ACCOUNTS_URL": es.URL,
		"TOKEN_FILE": filepath.Join(t.TempDir(), "tokens.json"), "ADMIN_TOKEN": adminToken,
		"ADMIN_ADDR": adminAddr, "AUTH_REDIRECT_URL": "http://" + adminAddr + "/auth/callback",
	})
	env := []string{"ADMIN_URL=http://" + p.admin, "ADMIN_TOKEN=" + adminToken}
	cli := func(stdin string, args ...string) (int, string, string) { return runBinary(t, env, stdin, args...) }

	aliceRT, bobRT := emu.IssueRefreshToken("user-read-private"), emu.IssueRefreshToken("user-read-private")
	rtFile := filepath.Join(t.TempDir(), "alice-rt")
	os.WriteFile(rtFile, []byte(aliceRT+"\n"), 0o600)
	if code, out, errs := cli("", "token", "put", "alice", "--refresh-token-file", rtFile); code != 0 || !strings.Contains(out, "alice") {
		t.Fatalf("token put from a file: %d %s %s", code, out, errs)
	}
	if code, _, errs := cli(bobRT, "token", "put", "bob", "--refresh-token-file", "-"); code != 0 {
		t.Fatalf("token put from stdin: %d %s", code, errs)
	}
	// The delivered token works through the proxy.
	req, _ := http.NewRequest("GET", "http://"+p.listen+"/v1/me", nil)
	req.Header.Set("X-Spotify-Account", "alice")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/me as alice: %v %v", err, resp)
	}

	code, out, errs := cli("", "accounts", "list", "-o", "json")
	var list struct {
		Accounts []struct{ ID, Status string } `json:"accounts"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
		t.Fatalf("accounts list: %d %s %s", code, out, errs)
	}
	var ids []string
	for _, a := range list.Accounts {
		ids = append(ids, a.ID+"="+a.Status)
	}
	if strings.Join(ids, " ") != "alice=ok bob=ok default=ok" {
		t.Fatalf("accounts: %v", ids)
	}
	if code, out, _ := cli("", "accounts", "list"); code != 0 || !strings.HasPrefix(out, "ID ") || strings.Count(out, "\n") != 4 {
		t.Fatalf("table: %d\n%s", code, out)
	}
	if code, out, _ := cli("", "accounts", "get", "alice"); code != 0 || !strings.Contains(out, `"id": "alice"`) || !strings.Contains(out, `"scope": "user-read-private"`) {
		t.Fatalf("get alice: %d %s", code, out)
	}
	if code, out, _ := cli("", "accounts", "delete", "bob"); code != 0 || !strings.Contains(out, "deleted account bob") {
		t.Fatalf("delete bob: %d %s", code, out)
	}
	if code, _, errs := cli("", "accounts", "get", "bob"); code != 1 || !strings.Contains(errs, `account "bob" not found`) {
		t.Fatalf("get after delete: %d %s", code, errs)
	}
	if code, _, errs := runBinary(t, []string{"ADMIN_URL=http://" + p.admin, "ADMIN_TOKEN=wrong-token-0123456789"}, "", "accounts", "list"); code != 1 || !strings.Contains(errs, "ADMIN_UNAUTHORIZED") {
		t.Fatalf("wrong token: %d %s", code, errs)
	}
	// The tail lists the account events so far, oldest first.
	code, out, errs = cli("", "events", "tail", "--once")
	if code != 0 {
		t.Fatalf("events tail: %d %s", code, errs)
	}
	for _, want := range []string{"account.linked", "alice", "bob", "account.deleted"} {
		if !strings.Contains(out, want) {
			t.Fatalf("events tail lacks %q:\n%s", want, out)
		}
	}
	if i, j := strings.Index(out, "account.linked"), strings.Index(out, "account.deleted"); i > j {
		t.Fatalf("events tail out of order:\n%s", out)
	}
	for _, secret := range []string{aliceRT, bobRT, adminToken} {
		if strings.Contains(p.logs.String(), secret) {
			t.Fatal("a secret appeared in the proxy's logs")
		}
	}

	// login: the CLI prints the link and waits; a browser signs in, confirms and
	// passes the emulator's authorize page; the CLI sees carol linked and exits 0.
	cmd := exec.Command(binary(t), "login", "carol", "--interval=100ms", "--timeout=60s")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	rd := bufio.NewReader(stdout)
	link, err := rd.ReadString('\n')
	if err != nil || strings.TrimSpace(link) != "http://"+p.admin+"/auth/login?account=carol" {
		t.Fatalf("login link %q %v %s", link, err, stderr.String())
	}
	browse(t, strings.TrimSpace(link), adminToken, p.admin)
	rest, _ := io.ReadAll(rd)
	if err := cmd.Wait(); err != nil || !strings.Contains(string(rest), "carol is linked") {
		t.Fatalf("login: %v %s %s", err, rest, stderr.String())
	}
	if code, out, _ := cli("", "accounts", "get", "carol"); code != 0 || !strings.Contains(out, `"status": "ok"`) {
		t.Fatalf("carol after login: %d %s", code, out)
	}
}

// browse is the admin's browser: sign in on the admin page, confirm the login at
// link, follow Spotify's (the emulator's) authorize redirect to the callback.
func browse(t *testing.T, link, adminToken, adminAddr string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	origin := "http://" + adminAddr
	send := func(method, u string, form url.Values, cookie string) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		r, _ := http.NewRequest(method, u, body)
		if form != nil {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Origin", origin)
			r.Header.Set("Sec-Fetch-Site", "same-origin")
		}
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		resp, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, _ := send("POST", origin+"/auth/signin", url.Values{"token": {adminToken}}, "")
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) == 0 {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	c := resp.Cookies()[0]
	cookie := c.Name + "=" + c.Value
	resp, page := send("GET", link, nil, cookie)
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("confirmation page: %d %s", resp.StatusCode, page)
	}
	resp, _ = send("POST", origin+"/auth/login", url.Values{"account": {"carol"}, "csrf_token": {m[1]}}, cookie)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("POST /auth/login: %d", resp.StatusCode)
	}
	resp, _ = send("GET", resp.Header.Get("Location"), nil, "") // the emulator approves
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), origin+"/auth/callback?") {
		t.Fatalf("authorize: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, page = send("GET", resp.Header.Get("Location"), nil, ""); resp.StatusCode != 200 {
		t.Fatalf("callback: %d %s", resp.StatusCode, page)
	}
}

// check-config runs start-up's validation on the environment: 0 and the effective
// settings (secrets redacted) when valid, 2 and the variable's name when not.
func TestCheckConfigBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds the binary")
	}
	dir := t.TempDir()
	good := []string{"SPOTIFY_CLIENT_ID=id", "SPOTIFY_CLIENT_SECRET=check-secret-value", "TOKEN_FILE=" + filepath.Join(dir, "data", "tokens.json"),
		"ADMIN_TOKEN=check-admin-token-0123456789"}
	code, out, errs := runBinary(t, good, "", "check-config")
	if code != 0 || !strings.Contains(out, "The configuration is valid") || !strings.Contains(out, "TOKEN_FILE") ||
		strings.Contains(out, "check-secret-value") || strings.Contains(out, "check-admin-token") || errs != "" {
		t.Fatalf("valid: %d\n%s\n%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Fatal("check-config created the token directory")
	}
	notADir := filepath.Join(dir, "plain")
	os.WriteFile(notADir, nil, 0o600)
	for _, tc := range []struct{ env, want string }{
		{"REFRESH_AHEAD=soon", "REFRESH_AHEAD"},
		{"TOKEN_FILE=" + filepath.Join(notADir, "tokens.json"), "TOKEN_FILE"},
		{"TOKEN_ENCRYPTION_KEY=short", "TOKEN_ENCRYPTION_KEY"},
	} {
		code, out, errs := runBinary(t, append(append([]string{}, good...), tc.env), "", "check-config")
		if code != 2 || !strings.Contains(errs, tc.want) || out != "" {
			t.Fatalf("%s: %d %q %q", tc.env, code, out, errs)
		}
	}
	// --help goes to stdout with status 0; no command still means the proxy.
	code, out, errs = runBinary(t, nil, "", "--help")
	if code != 0 || !strings.Contains(out, "SPOTIFY_CLIENT_ID") || !strings.Contains(out, "check-config") || errs != "" {
		t.Fatalf("--help: %d %q", code, errs)
	}
	if code, _, errs := runBinary(t, nil, ""); code != 2 || !strings.Contains(errs, "SPOTIFY_CLIENT_ID") {
		t.Fatalf("no command: %d %s", code, errs)
	}
	if code, out, _ := runBinary(t, nil, "", "--version"); code != 0 || !strings.HasPrefix(out, "spotify-token-proxy ") {
		t.Fatalf("--version: %d %s", code, out)
	}
}
