package e2etest

import (
	"bufio"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestBuildsOncePerPackageAndRemoves(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a command")
	}
	var b Builds
	bin, err := b.Binary("cmd/spotify-emulator", false)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(bin)
	if err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("%s: %v, mode %v", bin, err, st)
	}
	again, err := b.Binary("cmd/spotify-emulator", false)
	if err != nil || again != bin {
		t.Fatalf("second Binary: %q, %v; want %q", again, err, bin)
	}
	if st2, _ := os.Stat(again); !st2.ModTime().Equal(st.ModTime()) {
		t.Fatal("the binary was built again")
	}
	if _, err := b.Binary("cmd/no-such-command", false); err == nil || !strings.Contains(err.Error(), "no-such-command") {
		t.Fatalf("a failed build: %v", err)
	}
	b.Remove()
	if _, err := os.Stat(bin); !os.IsNotExist(err) {
		t.Fatalf("after Remove: %v", err)
	}
}

func TestExitStatus(t *testing.T) {
	p, err := Start(exec.Command("sh", "-c", "exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	<-p.Exited()
	var ee *exec.ExitError
	if err := p.Err(); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("Err() = %v, want exit status 3", err)
	}
}

func TestWaitReady(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	p, err := Start(exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if err := p.WaitReady(srv.URL, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("ready after %d polls, want 3 (two 503s, then 200)", n)
	}

	never := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer never.Close()
	if err := p.WaitReady(never.URL, 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "not ready within") {
		t.Fatalf("never ready: %v", err)
	}

	dead, err := Start(exec.Command("sh", "-c", "exit 4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := dead.WaitReady(never.URL, time.Minute); err == nil || !strings.Contains(err.Error(), "exited during start-up: exit status 4") {
		t.Fatalf("exited: %v", err)
	}
}

func TestStop(t *testing.T) {
	p, err := Start(exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := p.Stop(time.Minute); !errors.As(err, &ee) || !strings.Contains(err.Error(), "terminated") {
		t.Fatalf("Stop: %v, want killed by SIGTERM", err)
	}

	// A process that ignores SIGTERM is killed after the wait.
	cmd := exec.Command("sh", "-c", `trap "" TERM; echo ignoring; exec sleep 60`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stubborn, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ignoring\n" {
		t.Fatalf("the shell said %q, %v", line, err)
	}
	if err := stubborn.Stop(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "no exit within 200ms") {
		t.Fatalf("Stop of a process ignoring SIGTERM: %v", err)
	}
	select {
	case <-stubborn.Exited():
	default:
		t.Fatal("still running after Stop")
	}
}
