package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zmb3/spotify/v2"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/e2etest"
	"github.com/spotify-token-proxy/spotify-token-proxy/internal/freeport"
	"github.com/spotify-token-proxy/spotify-token-proxy/internal/syncbuf"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

// builds holds the proxy binary the tests run (built once, with -race); TestMain
// removes it.
var builds e2etest.Builds

func TestMain(m *testing.M) {
	code := m.Run()
	builds.Remove()
	os.Exit(code)
}

func binary(t *testing.T) string {
	t.Helper()
	bin, err := builds.Binary("cmd/spotify-token-proxy", true)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return freeport.Addr(t)
}

// emulated is an in-process emulator on a test server that closes with the test.
type emulated struct {
	*spotifyemu.Emulator
	URL  string
	opts spotifyemu.Options
}

func startEmulator(t *testing.T, opts spotifyemu.Options) emulated {
	t.Helper()
	emu := spotifyemu.New(opts)
	es := httptest.NewServer(emu)
	t.Cleanup(es.Close)
	return emulated{Emulator: emu, URL: es.URL, opts: opts}
}

// env points the proxy at the emulator, as its client, with a token file of its
// own; extra adds settings or replaces these.
func (e emulated) env(t *testing.T, extra map[string]string) map[string]string {
	env := map[string]string{
		"SPOTIFY_CLIENT_ID": e.opts.ClientID, "SPOTIFY_CLIENT_SECRET": e.opts.ClientSecret,
		"SPOTIFY_API_URL": e.URL, "SPOTIFY_ACCOUNTS_URL": e.URL,
		"TOKEN_FILE": filepath.Join(t.TempDir(), "tokens.json"),
	}
	maps.Copy(env, extra)
	return env
}

// proc is a running proxy: its listeners and its output.
type proc struct {
	*e2etest.Process
	logs   *syncbuf.Buffer
	listen string
	admin  string
}

// startProxy starts the proxy with env on free ports and waits until /readyz
// answers 200; the test's end kills it.
func startProxy(t *testing.T, env map[string]string) *proc {
	t.Helper()
	p := &proc{logs: &syncbuf.Buffer{}, listen: freeAddr(t), admin: env["ADMIN_ADDR"]}
	if p.admin == "" { // a test that needs the address first (AUTH_REDIRECT_URL) picks it
		p.admin = freeAddr(t)
	}
	cmd := exec.Command(binary(t))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LISTEN_ADDR=" + p.listen, "ADMIN_ADDR=" + p.admin}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	var err error
	if p.Process, err = e2etest.Start(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("proxy logs:\n%s", p.logs.String())
		}
	})
	if err := p.WaitReady("http://"+p.admin+"/readyz", 30*time.Second); err != nil {
		t.Fatalf("proxy: %v\n%s", err, p.logs.String())
	}
	return p
}

// stop ends the proxy with SIGTERM; it must exit with status 0 within 30s.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logs.String())
	}
}

func TestEndToEndWithSpotifyClient(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	emu := startEmulator(t, spotifyemu.Options{ClientID: "e2e-client", ClientSecret: "e2e-secret", TokenLifetime: time.Hour})
	seed := emu.IssueRefreshToken("user-read-private user-modify-playback-state")
	tokenFile := filepath.Join(t.TempDir(), "data", "tokens.json")
	env := emu.env(t, map[string]string{
		"SPOTIFY_REFRESH_TOKEN": seed, "TOKEN_FILE": tokenFile,
		// Two revocations come within a second here; the floor between 401-caused
		// refreshes (which would pass the second 401 through) has its own tests.
		"UNAUTHORIZED_REFRESH_INTERVAL": "0s",
	})
	p := startProxy(t, env)
	ctx := context.Background()
	client := spotify.New(http.DefaultClient, spotify.WithBaseURL("http://"+p.listen+"/v1/"))

	user, err := client.CurrentUser(ctx)
	if err != nil || !strings.HasPrefix(user.ID, "user-") {
		t.Fatalf("CurrentUser: %v %+v", err, user)
	}
	if err := client.PlayOpt(ctx, &spotify.PlayOptions{URIs: []spotify.URI{"spotify:track:4iV5W9uYEdYUVa79Axb7Rh"}}); err != nil {
		t.Fatalf("Play (PUT with a JSON body): %v", err)
	}
	// Spotify revokes every access token: the proxy refreshes once and retries.
	before := emu.Stats().RefreshCalls
	emu.RevokeAccessTokens()
	if _, err := client.CurrentUser(ctx); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	if got := emu.Stats().RefreshCalls - before; got != 1 {
		t.Fatalf("refresh calls after revocation = %d, want 1", got)
	}
	if !strings.Contains(p.logs.String(), "spotify-token-proxy started") {
		t.Fatal("no start-up log line")
	}
	for _, secret := range []string{seed, "e2e-secret"} {
		if strings.Contains(p.logs.String(), secret) {
			t.Fatal("a secret appeared in the logs")
		}
	}
	p.stop(t)

	// Restart on the same file with the stale seed: the rotated token is used, the
	// seed is ignored (the emulator revoked it at the first rotation).
	p2 := startProxy(t, env)
	client2 := spotify.New(http.DefaultClient, spotify.WithBaseURL("http://"+p2.listen+"/v1/"))
	emu.RevokeAccessTokens()
	if _, err := client2.CurrentUser(ctx); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if emu.Stats().InvalidGrants != 0 {
		t.Fatalf("invalid_grant answers = %d: the stale seed was used", emu.Stats().InvalidGrants)
	}
	p2.stop(t)
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	emu := spotifyemu.New(spotifyemu.Options{ClientID: "c", ClientSecret: "s"})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/slow" {
			arrived <- struct{}{}
			<-release
			io.WriteString(w, "drained")
			return
		}
		emu.ServeHTTP(w, r)
	}))
	defer slow.Close()
	p := startProxy(t, map[string]string{
		"SPOTIFY_CLIENT_ID": "c", "SPOTIFY_CLIENT_SECRET": "s", "SPOTIFY_REFRESH_TOKEN": emu.IssueRefreshToken(""),
		"SPOTIFY_API_URL": slow.URL, "SPOTIFY_ACCOUNTS_URL": slow.URL, "TOKEN_FILE": filepath.Join(t.TempDir(), "t.json"),
	})
	result := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + p.listen + "/v1/slow")
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(b)
	}()
	<-arrived
	p.Cmd.Process.Signal(syscall.SIGTERM)
	// Readiness goes 503 while draining.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 503 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("readyz did not go 503 during the drain")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	if got := <-result; got != "drained" {
		t.Fatalf("in-flight request: %q", got)
	}
	if err := p.Err(); err != nil {
		t.Fatalf("exit: %v", err)
	}
}

func TestStartupErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "tokens.json")
	os.WriteFile(corrupt, []byte("{not json"), 0o600)
	// A token file the proxy cannot write: in a read-only directory, or (root writes
	// anywhere) on a file system that takes no new files.
	unwritable := "/proc/spotify-token-proxy/tokens.json"
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o500)
		unwritable = filepath.Join(ro, "tokens.json")
	}
	notADir := filepath.Join(dir, "plain-file")
	os.WriteFile(notADir, nil, 0o600)
	for _, tc := range []struct {
		name   string
		env    []string
		status int
		want   string
	}{
		{"missing client id", nil, 2, "SPOTIFY_CLIENT_ID"},
		{"bad duration", []string{"SPOTIFY_CLIENT_ID=a", "SPOTIFY_CLIENT_SECRET=b", "REFRESH_AHEAD=soon"}, 2, "REFRESH_AHEAD"},
		{"bad url", []string{"SPOTIFY_CLIENT_ID=a", "SPOTIFY_CLIENT_SECRET=b", "SPOTIFY_API_URL=::"}, 2, "SPOTIFY_API_URL"},
		{"corrupt token file", []string{"SPOTIFY_CLIENT_ID=a", "SPOTIFY_CLIENT_SECRET=b", "TOKEN_FILE=" + corrupt,
			"LISTEN_ADDR=127.0.0.1:0", "ADMIN_ADDR=127.0.0.1:0"}, 1, "corrupt"},
		{"unwritable token file", []string{"SPOTIFY_CLIENT_ID=a", "SPOTIFY_CLIENT_SECRET=b", "TOKEN_FILE=" + unwritable,
			"LISTEN_ADDR=127.0.0.1:0", "ADMIN_ADDR=127.0.0.1:0"}, 2, "TOKEN_FILE"},
		{"token file under a file", []string{"SPOTIFY_CLIENT_ID=a", "SPOTIFY_CLIENT_SECRET=b", "TOKEN_FILE=" + filepath.Join(notADir, "tokens.json"),
			"LISTEN_ADDR=127.0.0.1:0", "ADMIN_ADDR=127.0.0.1:0"}, 2, "TOKEN_FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary(t))
			cmd.Env = tc.env
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != tc.status {
				t.Fatalf("exit: %v, want status %d\n%s", err, tc.status, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
				t.Fatalf("stderr %q: want one line naming %s", stderr.String(), tc.want)
			}
		})
	}
	if b, _ := os.ReadFile(corrupt); string(b) != "{not json" {
		t.Fatal("corrupt token file was modified")
	}
}

func TestHelpListsSettings(t *testing.T) {
	var out bytes.Buffer
	err := runWith(context.Background(), []string{"--help"}, func(string) string { return "" }, &out)
	if code := exitCode(err, io.Discard); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, s := range []string{"--spotify-client-id", "REFRESH_AHEAD", "default 5m", "--max-replay-body"} {
		if !strings.Contains(out.String(), s) {
			t.Fatalf("--help lacks %q", s)
		}
	}
}

// Every secret the process handles stays out of its logs, its metrics page, its error
// answers and (encrypted) its token file.
func TestSecretsNeverLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	emu := startEmulator(t, spotifyemu.Options{ClientID: "leak-client", ClientSecret: "leak-client-secret-value", TokenLifetime: time.Hour})
	seed := emu.IssueRefreshToken("user-read-private")
	delivered := emu.IssueRefreshToken("user-read-private")
	const adminToken, proxyToken = "leak-admin-token-0123456789", "leak-proxy-token-0123456789"
	const encKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // base64 of 32 bytes
	tokenFile := filepath.Join(t.TempDir(), "tokens.json")
	p := startProxy(t, emu.env(t, map[string]string{
		"SPOTIFY_REFRESH_TOKEN": seed, "TOKEN_FILE": tokenFile, "LOG_LEVEL": "debug",
		"ADMIN_TOKEN": adminToken, "PROXY_AUTH_TOKEN": proxyToken, "TOKEN_ENCRYPTION_KEY": encKey,
	}))
	var bodies strings.Builder
	call := func(method, url, auth, pauth, body string) int {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if pauth != "" {
			req.Header.Set("Proxy-Authorization", pauth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		bodies.Write(b)
		return resp.StatusCode
	}
	api := "http://" + p.listen + "/v1/me"
	admin := "http://" + p.admin
	if code := call("GET", api, "", "Bearer "+proxyToken, ""); code != 200 {
		t.Fatalf("proxied call: %d", code)
	}
	call("GET", api, "", "Bearer wrong-"+proxyToken, "")
	call("GET", api, "", "", "")
	emu.RevokeAccessTokens()
	call("GET", api, "", "Bearer "+proxyToken, "")
	if code := call("PUT", admin+"/admin/v1/accounts/bob/token", "Bearer "+adminToken, "", `{"refresh_token":"`+delivered+`"}`); code != 204 {
		t.Fatalf("delivery: %d", code)
	}
	call("PUT", admin+"/admin/v1/accounts/bob/token", "Bearer "+adminToken, "", `{"refresh_token":"`+delivered+`","bogus":1}`)
	call("PUT", admin+"/admin/v1/accounts/bob/token", "Bearer not-"+adminToken, "", `{"refresh_token":"`+delivered+`"}`)
	var access string
	{
		req, _ := http.NewRequest("GET", admin+"/admin/v1/accounts/bob/token", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if i := strings.Index(string(b), `"access_token":"`); i >= 0 {
			access = strings.SplitN(string(b)[i+16:], `"`, 2)[0]
		}
		if access == "" || strings.Contains(string(b), delivered) {
			t.Fatalf("GET token: %s", b)
		}
	}
	emu.RevokeRefreshTokens()
	emu.RevokeAccessTokens()
	call("GET", api, "", "Bearer "+proxyToken, "") // invalid_grant path, logged
	metricsResp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsPage, _ := io.ReadAll(metricsResp.Body)
	metricsResp.Body.Close()
	p.stop(t)
	file, _ := os.ReadFile(tokenFile)

	secrets := map[string]string{
		"client secret": "leak-client-secret-value", "seed refresh token": seed, "delivered refresh token": delivered,
		"access token": access, "admin token": adminToken, "proxy token": proxyToken, "encryption key": encKey,
	}
	for where, text := range map[string]string{
		"logs": p.logs.String(), "metrics": string(metricsPage), "error bodies": bodies.String(), "token file": string(file),
	} {
		for name, secret := range secrets {
			if secret != "" && strings.Contains(text, secret) {
				t.Errorf("the %s appears in the %s", name, where)
			}
		}
	}
	if !strings.Contains(string(metricsPage), "spotify_proxy_token_refreshes_total") {
		t.Fatal("metrics page incomplete")
	}
}
