//go:build linux

package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/e2etest"
	"github.com/spotify-token-proxy/spotify-token-proxy/internal/freeport"
)

// builds holds the binaries, built once per test binary run (with -race when
// CHAOS_RACE is set); TestMain removes them.
var builds e2etest.Builds

func binaries(t *testing.T) (proxy, emu string) {
	t.Helper()
	race := os.Getenv("CHAOS_RACE") != ""
	var err error
	if proxy, err = builds.Binary("cmd/spotify-token-proxy", race); err != nil {
		t.Fatal(err)
	}
	if emu, err = builds.Binary("cmd/spotify-emulator", race); err != nil {
		t.Fatal(err)
	}
	return proxy, emu
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return freeport.Addr(t)
}

// ---------------------------------------------------------------------------
// The emulator process.

type emulator struct {
	url  string
	proc *e2etest.Process
	log  string
	http *http.Client
}

func startEmulator(t *testing.T, dir string) *emulator {
	t.Helper()
	_, bin := binaries(t)
	logPath := filepath.Join(dir, "emulator.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-client-id", clientID, "-client-secret", clientSecret,
		"-token-lifetime", tokenLifetime.String(), "-refresh-policy", "rotate")
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	proc, err := e2etest.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.Kill)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		u, ok := strings.CutPrefix(line, "listening on ")
		if !ok {
			t.Fatalf("emulator said %q", line)
		}
		return &emulator{url: u, proc: proc, log: logPath, http: &http.Client{Timeout: 10 * time.Second}}
	case <-proc.Exited():
		b, _ := os.ReadFile(logPath)
		t.Fatalf("emulator exited at start: %v\n%s", proc.Err(), b)
	case <-time.After(20 * time.Second):
		t.Fatal("emulator did not say where it listens within 20s")
	}
	return nil
}

// call sends a control API request and decodes the JSON answer into out (if not nil).
func (e *emulator) call(method, path string, out any) error {
	req, err := http.NewRequest(method, e.url+"/_emulator/"+path, nil)
	if err != nil {
		return err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("emulator %s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (e *emulator) must(t *testing.T, method, path string, out any) {
	t.Helper()
	if err := e.call(method, path, out); err != nil {
		t.Fatal(err)
	}
}

type emuStats struct {
	TokenCalls    int64 `json:"token_calls"`
	RefreshCalls  int64 `json:"refresh_calls"`
	InvalidGrants int64 `json:"invalid_grants"`
	TokenFailures int64 `json:"token_failures"`
	APICalls      int64 `json:"api_calls"`
	Unauthorized  int64 `json:"unauthorized"`
}

func (e *emulator) stats(t *testing.T) emuStats {
	t.Helper()
	var s emuStats
	e.must(t, "GET", "stats", &s)
	return s
}

func (e *emulator) issueRefreshToken(t *testing.T) string {
	t.Helper()
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	e.must(t, "POST", "issue-refresh-token?scope="+url.QueryEscape("user-read-private user-read-email"), &out)
	if out.RefreshToken == "" {
		t.Fatal("emulator issued an empty refresh token")
	}
	return out.RefreshToken
}

func (e *emulator) refreshTokenLive(t *testing.T, tok string) bool {
	t.Helper()
	var out struct {
		Live bool `json:"live"`
	}
	e.must(t, "GET", "refresh-token-live?token="+url.QueryEscape(tok), &out)
	return out.Live
}

func (e *emulator) liveRefreshTokens(t *testing.T) int {
	t.Helper()
	var out struct {
		N int `json:"live_refresh_tokens"`
	}
	e.must(t, "GET", "live-refresh-tokens", &out)
	return out.N
}

// ---------------------------------------------------------------------------
// Proxy replicas.

type replica struct {
	idx    int
	listen string
	admin  string
	env    []string
	extra  []string // the environment beyond the ports
	log    string

	mu   sync.Mutex
	proc *e2etest.Process
}

func newReplica(t *testing.T, idx int, dir string, env []string) *replica {
	r := &replica{idx: idx, log: filepath.Join(dir, fmt.Sprintf("replica-%d.log", idx)), extra: env}
	r.pickPorts(t)
	t.Cleanup(func() {
		r.mu.Lock()
		p := r.proc
		r.mu.Unlock()
		if p != nil {
			p.Kill()
		}
	})
	return r
}

// start starts the process (on the replica's fixed ports) and waits for /readyz 200.
func (r *replica) start(t *testing.T) {
	t.Helper()
	bin, _ := binaries(t)
	logf, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "----- chaos: start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(bin)
	cmd.Env = r.env
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := e2etest.Start(cmd)
	logf.Close()
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	first := r.proc == nil
	r.proc = p
	r.mu.Unlock()
	err = p.WaitReady("http://"+r.admin+"/readyz", 30*time.Second)
	if err == nil {
		err = r.serving(p)
	}
	if err != nil && first && strings.Contains(tail(r.log, 5), "address already in use") {
		// A free port picked a moment ago was taken by another test's process
		// (which may even have answered /readyz): start again on other ports.
		r.pickPorts(t)
		r.mu.Lock()
		r.proc = nil
		r.mu.Unlock()
		r.start(t)
		return
	}
	if err != nil {
		t.Fatalf("replica %d: %v\n%s", r.idx, err, tail(r.log, 30))
	}
}

// pickPorts gives the replica free ports, kept across its restarts.
func (r *replica) pickPorts(t *testing.T) {
	r.listen, r.admin = freeAddr(t), freeAddr(t)
	r.env = append([]string{"PATH=" + os.Getenv("PATH"), "LISTEN_ADDR=" + r.listen, "ADMIN_ADDR=" + r.admin}, r.extra...)
}

// serving checks that p itself answers on the proxy port, and has not exited: a
// /readyz answer alone may have come from another process on a reused port.
func (r *replica) serving(p *e2etest.Process) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-p.Exited():
			return fmt.Errorf("exited during start-up: %v", p.Err())
		default:
		}
		if resp, err := client.Get("http://" + r.listen + "/healthz"); err == nil {
			resp.Body.Close()
			select {
			case <-p.Exited():
				return fmt.Errorf("exited during start-up: %v", p.Err())
			default:
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the proxy port %s does not answer", r.listen)
		}
		select {
		case <-p.Exited():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sigkill kills the process with SIGKILL and waits until it is reaped.
func (r *replica) sigkill() {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	p.Kill()
}

// sigterm stops the process gracefully and returns its exit error (nil: status 0).
func (r *replica) sigterm(t *testing.T, within time.Duration) error {
	t.Helper()
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	return p.Stop(within)
}

func (r *replica) adminGet(path string, out any) error {
	req, _ := http.NewRequest("GET", "http://"+r.admin+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

func (r *replica) deliver(t *testing.T, account, refreshToken string) {
	t.Helper()
	body := fmt.Sprintf(`{"refresh_token":%q,"scope":"user-read-private user-read-email"}`, refreshToken)
	req, _ := http.NewRequest("PUT", "http://"+r.admin+"/admin/v1/accounts/"+account+"/token", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("delivering %s: %d %s", account, resp.StatusCode, b)
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// notable returns the lines of a log at level WARN or ERROR (text format), at most n.
func notable(path string, n int) []string {
	b, _ := os.ReadFile(path)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.HasPrefix(l, "----- chaos") {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = append([]string{fmt.Sprintf("… %d earlier lines", len(out)-n)}, out[len(out)-n:]...)
	}
	return out
}

// waitFor polls cond every 10ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-tick.C:
		}
	}
}
