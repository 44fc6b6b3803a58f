package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

func serverCPUs() string {
	if runtime.NumCPU() < 2 {
		return ""
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return ""
	}
	return "0"
}

func loadCPUs() string {
	if serverCPUs() == "" {
		return ""
	}
	return strconv.Itoa(runtime.NumCPU() - 1)
}

func measure(o options, gen string, t target) (sample, error) {
	var s sample
	url := t.url + "/v1/me"
	// Warm up (connections, caches).
	if _, err := load(gen, url, o.conns, time.Second); err != nil {
		return s, err
	}
	cpu0 := cpuTicks(t)
	var peak float64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(200 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				peak = max(peak, rssMB(t))
			}
		}
	}()
	r, err := load(gen, url, o.conns, o.duration)
	close(stop)
	wg.Wait()
	if err != nil {
		return s, err
	}
	cpu1 := cpuTicks(t)
	s.rps, s.p50, s.p99, s.requests, s.errors = r.rps, r.p50, r.p99, r.requests, r.errors
	if r.requests > 0 && t.pids != nil {
		s.cpuPerReq = float64(cpu1-cpu0) * (1e6 / float64(clockTicks)) / float64(r.requests)
	}
	s.rssLoad = max(peak, rssMB(t))
	low, err := load(gen, url, 1, o.lowDur)
	if err != nil {
		return s, err
	}
	s.lowP50 = low.p50
	return s, nil
}

// pidsOf returns the process and its descendants (nginx workers; the program under
// taskset, which execs it, keeps the pid).
func pidsOf(cmd *exec.Cmd) func() []int {
	return func() []int {
		root := cmd.Process.Pid
		pids := []int{root}
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if err != nil {
				continue
			}
			f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
			if len(f) > 1 {
				if ppid, _ := strconv.Atoi(f[1]); ppid == root {
					pids = append(pids, pid)
				}
			}
		}
		return pids
	}
}

const clockTicks = 100 // USER_HZ on Linux

func cpuTicks(t target) int64 {
	if t.pids == nil {
		return 0
	}
	var total int64
	for _, pid := range t.pids() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += ut + st
	}
	return total
}

func rssMB(t target) float64 {
	if t.pids == nil {
		return 0
	}
	var kb float64
	for _, pid := range t.pids() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				n, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
				kb += n
			}
		}
	}
	return kb / 1024
}
