package redistest

import (
	"strings"
	"testing"
)

func TestServerLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs redis-server")
	}
	s := StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
	if _, err := command(s.Addr(), "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if _, err := command(s.Addr(), "PING"); err == nil {
		t.Fatal("killed server still answers")
	}
	s.Restart()
	if v, err := command(s.Addr(), "GET", "k"); err != nil || v != "v" {
		t.Fatalf("after restart with AOF: %q %v", v, err)
	}
	s.Pause()
	s.Resume()
	if v, err := command(s.Addr(), "PING"); err != nil || v != "PONG" {
		t.Fatalf("after resume: %q %v", v, err)
	}
}

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs redis-server")
	}
	c := StartCluster(t)
	if len(c.Addrs()) != 3 {
		t.Fatal(c.Addrs())
	}
	info, err := command(c.Addrs()[0], "CLUSTER", "INFO")
	if err != nil || !strings.Contains(info, "cluster_known_nodes:3") {
		t.Fatalf("%q %v", info, err)
	}
}
