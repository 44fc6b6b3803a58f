package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

// rssBytes reads a process's resident set size from /proc/PID/status.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// heapInuse reads go_memstats_heap_inuse_bytes from the admin listener's metrics.
func heapInuse(t *testing.T, p *proc) int64 {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int64(f)
		}
	}
	t.Fatal("no go_memstats_heap_inuse_bytes in /metrics")
	return 0
}

// 300 callers announce 1 MiB bodies and send one byte at a time. The proxy must not
// reserve what they announce (RSS grows by less than 80 MB), must keep answering
// ordinary requests meanwhile, and must end each upload with 408 once it stalls.
//
// The heap in use is checked too: a buffer pre-sized from Content-Length stays out of
// RSS only while its pages are fresh from the OS and untouched; once the runtime
// reuses freed memory for it (zeroing it), it is resident.
func TestSlowBodiesDoNotPinMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to read RSS")
	}
	const (
		conns   = 300
		timeout = 3 * time.Second
		pace    = 500 * time.Millisecond // well inside the timeout: the uploads stay alive
		ticks   = 6
	)
	emu := startEmulator(t, spotifyemu.Options{ClientID: "c", ClientSecret: "s", TokenLifetime: time.Hour})
	p := startProxy(t, emu.env(t, map[string]string{
		"SPOTIFY_REFRESH_TOKEN": emu.IssueRefreshToken("user-read-private"),
		"BODY_READ_TIMEOUT":     timeout.String(),
	}))
	get := func() int {
		resp, err := http.Get("http://" + p.listen + "/v1/me")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 5 {
		if code := get(); code != 200 {
			t.Fatalf("warm-up: %d", code)
		}
	}
	pid := p.Cmd.Process.Pid
	base, baseHeap := rssBytes(t, pid), heapInuse(t, p)

	cs := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for range conns {
		c, err := net.Dial("tcp", p.listen)
		if err != nil {
			t.Fatalf("connection %d: %v", len(cs), err)
		}
		cs = append(cs, c)
		fmt.Fprintf(c, "PUT /v1/playlists/p1/images HTTP/1.1\r\nHost: %s\r\nContent-Type: image/jpeg\r\nContent-Length: 1048576\r\n\r\n", p.listen)
	}
	peak := base
	for i := range ticks {
		time.Sleep(pace) // the uploads' pace, not synchronisation
		for _, c := range cs {
			if _, err := c.Write([]byte{'/'}); err != nil {
				t.Fatalf("tick %d: an upload that keeps arriving was cut: %v", i, err)
			}
		}
		peak = max(peak, rssBytes(t, pid))
		if code := get(); code != 200 {
			t.Fatalf("an ordinary request during the slow uploads: %d", code)
		}
	}
	// Every upload is still being read: a buffer sized from Content-Length would be
	// in the heap now.
	growth, heapGrowth := peak-base, heapInuse(t, p)-baseHeap
	t.Logf("RSS %.1f MB before, %.1f MB at most with %d slow uploads (+%.1f MB); heap in use +%.1f MB",
		float64(base)/1e6, float64(peak)/1e6, conns, float64(growth)/1e6, float64(heapGrowth)/1e6)
	if growth >= 80e6 || heapGrowth >= 80e6 {
		t.Fatalf("RSS grew by %.1f MB and the heap in use by %.1f MB with %d slow uploads, want < 80 MB each",
			float64(growth)/1e6, float64(heapGrowth)/1e6, conns)
	}

	// The uploads stop: each ends with 408 and a closed connection.
	deadline := time.Now().Add(timeout + 20*time.Second) // a safety net only
	for i, c := range cs {
		c.SetReadDeadline(deadline)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("upload %d: no answer after it stalled: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 408 || !strings.Contains(string(b), "PROXY_BODY_TIMEOUT") {
			t.Fatalf("upload %d: %d %s", i, resp.StatusCode, b)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("upload %d: connection not closed after the 408 (%v)", i, err)
		}
	}
	if code := get(); code != 200 {
		t.Fatalf("after the slow uploads: %d", code)
	}
}
