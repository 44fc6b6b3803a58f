// Package procs starts the local processes the benchmark programs measure against:
// loopback addresses only.
package procs

import (
	"fmt"
	"net"
	"os/exec"
	"time"
)

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// WaitTCP waits until addr accepts connections.
func WaitTCP(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%s did not accept connections within %s", addr, d)
}

// Redis is a redis-server without persistence.
type Redis struct {
	Addr string
	cmd  *exec.Cmd
}

// StartRedis starts redis-server on a free loopback port, without persistence, in
// dir (it writes no files there).
func StartRedis(dir string) (*Redis, error) {
	addr := FreeAddr()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("redis-server (install the Debian package redis-server): %w", err)
	}
	if err := WaitTCP(addr, 10*time.Second); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	return &Redis{Addr: addr, cmd: cmd}, nil
}

// Stop kills the server.
func (r *Redis) Stop() {
	r.cmd.Process.Kill()
	r.cmd.Wait()
}
