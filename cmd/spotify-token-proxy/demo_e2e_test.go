package main

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/syncbuf"
)

// demoBinaries builds the proxy and the emulator (as make build does) into a
// directory for scripts/demo.sh.
func demoBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for pkg, name := range map[string]string{".": "spotify-token-proxy", "../spotify-emulator": "spotify-emulator"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return dir
}

func demoCommand(t *testing.T, bin string, env ...string) *exec.Cmd {
	cmd := exec.Command("bash", "../../scripts/demo.sh")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "BIN=" + bin, "TMPDIR=" + t.TempDir()}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, like a terminal's foreground job
	return cmd
}

// make demo's script: it comes up on the ports it is given, prints its ready line,
// serves alice through the proxy, and on Ctrl-C (SIGINT to its process group)
// stops the proxy and the emulator and exits 0, leaving no process behind.
func TestDemoScriptStaysUpAndStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds the binaries and runs the demo")
	}
	bin := demoBinaries(t)
	listen, admin, emu, hooks := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	cmd := demoCommand(t, bin, "LISTEN_ADDR="+listen, "ADMIN_ADDR="+admin, "EMULATOR_ADDR="+emu, "WEBHOOK_ADDR="+hooks)
	stdout, _ := cmd.StdoutPipe()
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}()

	ready := make(chan []int, 1)
	var out syncbuf.Buffer
	readAll := make(chan struct{})
	go func() {
		defer close(readAll)
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`^demo: ready — emulator pid (\d+), proxy pid (\d+), webhook receiver pid (\d+)`)
		for sc.Scan() {
			out.Write([]byte(sc.Text() + "\n"))
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				e, _ := strconv.Atoi(m[1])
				p, _ := strconv.Atoi(m[2])
				h, _ := strconv.Atoi(m[3])
				ready <- []int{e, p, h}
			}
		}
	}()
	var pids []int
	select {
	case pids = <-ready:
	case err := <-done:
		t.Fatalf("the demo ended before its ready line: %v\n%s\n%s", err, out.String(), stderr.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("no ready line within 90s\n%s\n%s", out.String(), stderr.String())
	}
	req, _ := http.NewRequest("GET", "http://"+listen+"/v1/me", nil)
	req.Header.Set("X-Spotify-Account", "alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request as alice: %v %v", err, resp)
	}
	resp.Body.Close()

	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) // Ctrl-C
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after Ctrl-C: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not stop within 30s of Ctrl-C")
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d is still there after the demo ended (kill 0: %v)", pid, err)
		}
	}
	<-readAll
	for _, want := range []string{"Admin token", "X-Spotify-Account: alice", "http://" + admin + "/", "accounts list", "/_emulator/revoke-access", "webhooks.log"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's try-this list lacks %q", want)
		}
	}
	// The tour shows the webhook receiver's verified account.linked events.
	if !regexp.MustCompile(`account\.linked\s+alice\s+ok`).MatchString(out.String()) ||
		!regexp.MustCompile(`account\.linked\s+bob\s+ok`).MatchString(out.String()) {
		t.Errorf("the tour does not show the webhook receiver's account.linked events:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "demo: stopped") {
		t.Fatalf("no stop message:\n%s", out.String())
	}
}

// A port already taken fails the demo at once, naming the port and the variable.
func TestDemoScriptNamesATakenPort(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the demo script")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cmd := demoCommand(t, t.TempDir(), "LISTEN_ADDR="+freeAddr(t), "ADMIN_ADDR="+ln.Addr().String(), "EMULATOR_ADDR="+freeAddr(t))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1", err)
	}
	if !strings.Contains(stderr.String(), "port "+port+" (ADMIN_ADDR="+ln.Addr().String()) {
		t.Fatalf("stderr: %s", stderr.String())
	}
}
