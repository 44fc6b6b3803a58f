// Package redistest starts real redis-server processes for tests: a standalone
// server that can be killed, restarted on the same port, paused and resumed, and a
// three-master Cluster.
//
// It needs redis-server and redis-cli on PATH (Debian package redis-server). Tests
// that use it are integration tests and skip themselves under -short:
//
//	if testing.Short() {
//		t.Skip("integration test: needs redis-server")
//	}
//	srv := redistest.StartServer(t)
//
// Every process is killed in t.Cleanup; on Linux it is also killed when the test
// binary dies (Pdeathsig), best effort.
package redistest

import (
	"github.com/spotify-token-proxy/spotify-token-proxy/internal/freeport"

	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const installHint = "install the Debian package redis-server (apt-get install -y redis-server)"

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 10 * time.Second

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	port int
	dir  string
	args []string

	mu   sync.Mutex
	proc *proc // nil while killed
}

// proc is a started redis-server; exited is closed once it has been reaped.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a paused server must be able to die
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// StartServer starts a standalone redis-server on a free loopback port with
// persistence off (--save "" --appendonly no) and its files in t.TempDir(). extra
// arguments are appended to the command line and override the defaults, e.g.
// "--appendonly", "yes", "--appendfsync", "always" for a server whose data survives
// Kill and Restart.
func StartServer(t testing.TB, extra ...string) *Server {
	t.Helper()
	requireBinaries(t)
	s := &Server{t: t, dir: t.TempDir()}
	s.args = append([]string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir}, extra...)
	var err error
	for attempt := 0; attempt < 3; attempt++ { // a free port may be taken before redis binds it
		s.port = freePort(t, false)
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.stop)
	return s
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// Kill kills the server with SIGKILL and waits for it to exit.
func (s *Server) Kill() {
	s.t.Helper()
	s.stop()
}

// Restart starts the server again on the same port and directory (after Kill, or
// kills it first) and waits until it answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

// Pause stops the process with SIGSTOP: connections stay open and nothing answers.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		s.t.Fatalf("redistest: server %s is not running", s.Addr())
	}
	if err := s.proc.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
}

func (s *Server) start() error {
	args := append([]string{"--port", strconv.Itoa(s.port)}, s.args...)
	logName := fmt.Sprintf("redis-%d.log", s.port)
	p, err := startProcess(s.dir, logName, args)
	if err != nil {
		return err
	}
	if err := waitReady(p, s.Addr(), filepath.Join(s.dir, logName)); err != nil {
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.kill()
		s.proc = nil
	}
}

// Cluster is a Redis Cluster of three masters (no replicas) on loopback.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts three cluster-enabled servers, joins them with
// `redis-cli --cluster create … --cluster-yes` and waits until every node reports
// cluster_state:ok.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	requireBinaries(t)
	c := &Cluster{}
	dir := t.TempDir()
	for i := 0; i < 3; i++ {
		var s *Server
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			s = &Server{t: t, dir: dir, port: freePort(t, true)}
			s.args = []string{
				"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
				"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", s.port)),
				"--cluster-node-timeout", "2000",
			}
			if err = s.start(); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("redistest: cluster node: %v", err)
		}
		t.Cleanup(s.stop)
		c.Nodes = append(c.Nodes, s)
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(startTimeout)
	for _, n := range c.Nodes {
		for {
			info, err := command(n.Addr(), "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: node %s did not reach cluster_state:ok: %v %q", n.Addr(), err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// Addrs are the host:port of the three masters.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

func requireBinaries(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: %s", bin, installHint)
		}
	}
}

func startProcess(dir, logName string, args []string) (*proc, error) {
	logf, err := os.OpenFile(filepath.Join(dir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command("redis-server", args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting redis-server: %w", err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitReady waits until the server answers PING; on failure (the process exited,
// e.g. because the port was taken, or it did not answer in time) it kills the
// process and returns the tail of its log.
func waitReady(p *proc, addr, logPath string) error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		if pong, err := command(addr, "PING"); err == nil && pong == "PONG" {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("redis-server on %s exited at start; log:\n%s", addr, logTail(logPath))
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.kill()
	return fmt.Errorf("redis-server on %s did not answer PING within %s; log:\n%s", addr, startTimeout, logTail(logPath))
}

func logTail(path string) string {
	text, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

// command sends one command in RESP and returns a simple string, integer or bulk
// string reply as text. It keeps this package free of a client library.
func command(addr string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	rd := bufio.NewReader(conn)
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("%s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("bad bulk reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	default:
		return "", fmt.Errorf("unexpected reply %q", line)
	}
}

// freePort finds a loopback port nobody listens on. For a cluster node the bus
// port (port+10000) must be free as well, so it is picked from [20000, 30000).
func freePort(t testing.TB, cluster bool) int {
	t.Helper()
	if !cluster {
		// Below the ephemeral range: a restarted server gets its port back.
		return freeport.Port(t)
	}
	for attempt := 0; attempt < 200; attempt++ {
		p := 20000 + rand.IntN(10000)
		if portFree(p) && portFree(p+10000) {
			return p
		}
	}
	t.Fatal("redistest: no free port pair for a cluster node")
	return 0
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
