// Command loadbench measures the proxy against baselines on loopback, in one run:
// a fast upstream stub, a stock httputil.ReverseProxy with a static token (the floor of
// this design), the same ReverseProxy tuned as spotify-token-proxy's is (upstream pool
// size, pooled copy buffers: what net/http itself costs), spotify-token-proxy on the
// embedded store and on Redis, and nginx with a static Authorization header when nginx
// is installed. Configurations are interleaved
// and repeated; the table reports medians and ratios.
//
// Load comes from wrk when installed (pinned to its own CPU with taskset), else from a
// built-in closed-loop Go generator.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/bench/internal/procs"
)

type options struct {
	bin      string
	duration time.Duration
	lowDur   time.Duration
	rounds   int
	conns    int
	useRedis bool
	gogc     string
	baseline string // another spotify-token-proxy binary to measure in the same run
	baseName string
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "directory with spotify-token-proxy, spotify-emulator, bench-upstream, bench-bareproxy")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "load duration per configuration and round at 64 connections")
	flag.DurationVar(&o.lowDur, "latency-duration", 5*time.Second, "duration of the 1-connection latency run")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds")
	flag.IntVar(&o.conns, "conns", 64, "concurrent connections")
	flag.BoolVar(&o.useRedis, "redis", true, "also measure the Redis store (needs redis-server)")
	flag.StringVar(&o.gogc, "gogc", "", "also measure the proxy (file store) with this GOGC, e.g. 400")
	flag.StringVar(&o.baseline, "baseline-bin", "", "also measure this spotify-token-proxy binary (file store), e.g. an earlier commit's build")
	flag.StringVar(&o.baseName, "baseline-name", "baseline", "what to call -baseline-bin in the table")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

// target is one configuration under test.
type target struct {
	name    string
	url     string
	pids    func() []int // processes whose CPU and memory count
	rssIdle float64      // MB after start-up, before any request
}

type sample struct {
	rps, p50, p99 float64 // p in µs
	lowP50        float64 // µs at 1 connection
	cpuPerReq     float64 // µs
	rssLoad       float64 // MB
	requests      int64
	errors        int64
}

func run(o options) (err error) {
	work, err := os.MkdirTemp("", "loadbench")
	if err != nil {
		return err
	}
	defer func() {
		if err == nil {
			os.RemoveAll(work) // kept on failure: it holds the logs
		}
	}()
	var started []*exec.Cmd
	defer func() {
		for _, p := range started {
			p.Process.Kill()
			p.Wait()
		}
	}()
	start := func(name string, args []string, env []string) (*exec.Cmd, string, error) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), env...)
		if cpus := serverCPUs(); cpus != "" {
			cmd = exec.Command("taskset", append([]string{"-c", cpus}, args...)...)
			cmd.Env = append(os.Environ(), env...)
		}
		out, _ := cmd.StdoutPipe()
		logf, _ := os.Create(filepath.Join(work, name+".log"))
		cmd.Stderr = logf
		if err := cmd.Start(); err != nil {
			return nil, "", fmt.Errorf("%s: %w", name, err)
		}
		started = append(started, cmd)
		addr := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if _, a, ok := strings.Cut(sc.Text(), "listening on "); ok {
					select {
					case addr <- strings.TrimSpace(a):
					default:
					}
				}
			}
		}()
		select {
		case a := <-addr:
			return cmd, a, nil
		case <-time.After(15 * time.Second):
			return nil, "", fmt.Errorf("%s did not print its address (log: %s)", name, filepath.Join(work, name+".log"))
		}
	}
	bin := func(n string) string { return filepath.Join(o.bin, n) }

	_, upstream, err := start("upstream", []string{bin("bench-upstream")}, nil)
	if err != nil {
		return err
	}
	_, accounts, err := start("emulator", []string{bin("spotify-emulator"), "-addr", "127.0.0.1:0", "-token-lifetime", "24h",
		"-refresh-token", "bench-seed", "-refresh-policy", "never", "-client-id", "bench", "-client-secret", "bench-secret"}, nil)
	if err != nil {
		return err
	}
	bare, bareURL, err := start("bareproxy", []string{bin("bench-bareproxy"), "-upstream", upstream}, nil)
	if err != nil {
		return err
	}
	tuned, tunedURL, err := start("bareproxy-tuned", []string{bin("bench-bareproxy"), "-upstream", upstream, "-tuned"}, nil)
	if err != nil {
		return err
	}
	var startProxyBin func(binary, name string, env ...string) error
	targets := []target{
		{name: "direct (upstream stub)", url: upstream},
		{name: bareName, url: bareURL, pids: pidsOf(bare)},
		{name: tunedName, url: tunedURL, pids: pidsOf(tuned)},
	}
	startProxy := func(name string, env ...string) error {
		return startProxyBin(bin("spotify-token-proxy"), name, env...)
	}
	startProxyBin = func(binary, name string, env ...string) error {
		listen, admin := procs.FreeAddr(), procs.FreeAddr()
		env = append(env, "SPOTIFY_CLIENT_ID=bench", "SPOTIFY_CLIENT_SECRET=bench-secret", "SPOTIFY_REFRESH_TOKEN=bench-seed",
			"SPOTIFY_API_URL="+upstream, "SPOTIFY_ACCOUNTS_URL="+accounts, "LISTEN_ADDR="+listen, "ADMIN_ADDR="+admin,
			"LOG_LEVEL=warn")
		cmd := exec.Command(binary)
		if cpus := serverCPUs(); cpus != "" {
			cmd = exec.Command("taskset", "-c", cpus, binary)
		}
		cmd.Env = append(os.Environ(), env...)
		logf, _ := os.Create(filepath.Join(work, name+".log"))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return err
		}
		started = append(started, cmd)
		if err := waitHTTP("http://"+admin+"/readyz", 15*time.Second); err != nil {
			return fmt.Errorf("%s: %w (log: %s)", name, err, filepath.Join(work, name+".log"))
		}
		targets = append(targets, target{name: name, url: "http://" + listen, pids: pidsOf(cmd)})
		return nil
	}
	if err := startProxy("spotify-token-proxy (file store)", "TOKEN_FILE="+filepath.Join(work, "tokens.json")); err != nil {
		return err
	}
	if o.baseline != "" {
		if err := startProxyBin(o.baseline, "spotify-token-proxy "+o.baseName+" (file store)",
			"TOKEN_FILE="+filepath.Join(work, "tokens-baseline.json")); err != nil {
			return err
		}
	}
	if o.gogc != "" {
		if err := startProxy("spotify-token-proxy (file store, GOGC="+o.gogc+")",
			"TOKEN_FILE="+filepath.Join(work, "tokens-gogc.json"), "GOGC="+o.gogc); err != nil {
			return err
		}
	}
	if o.useRedis {
		if _, err := exec.LookPath("redis-server"); err != nil {
			fmt.Fprintln(os.Stderr, "loadbench: redis-server not found; skipping the Redis store (apt-get install redis-server)")
		} else {
			raddr := procs.FreeAddr()
			_, port, _ := net.SplitHostPort(raddr)
			rs := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", work)
			if err := rs.Start(); err != nil {
				return err
			}
			started = append(started, rs)
			if err := procs.WaitTCP(raddr, 10*time.Second); err != nil {
				return err
			}
			if err := startProxy("spotify-token-proxy (Redis store)", "REDIS_URL=redis://"+raddr); err != nil {
				return err
			}
		}
	}
	if path, err := exec.LookPath("nginx"); err == nil {
		url, cmd, err := startNginx(path, work, upstream)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadbench: nginx did not start:", err)
		} else {
			started = append(started, cmd)
			targets = append(targets, target{name: "nginx (static header)", url: url, pids: pidsOf(cmd)})
		}
	} else {
		fmt.Fprintln(os.Stderr, "loadbench: nginx not found; no nginx baseline (apt-get install nginx)")
	}

	gen := "go"
	if _, err := exec.LookPath("wrk"); err == nil {
		gen = "wrk"
	}
	fmt.Fprintf(os.Stderr, "load generator: %s; %d rounds × %d configurations × %s at %d connections (+ %s at 1)\n",
		gen, o.rounds, len(targets), o.duration, o.conns, o.lowDur)
	for i := range targets {
		targets[i].rssIdle = rssMB(targets[i])
	}
	results := make(map[string][]sample)
	for round := 1; round <= o.rounds; round++ {
		order := slices.Clone(targets)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, t := range order {
			s, err := measure(o, gen, t)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			fmt.Fprintf(os.Stderr, "round %d  %-36s %9.0f req/s  p50 %7.0fµs  p99 %7.0fµs  1-conn p50 %5.0fµs  cpu %5.1fµs/req  rss %5.1f/%5.1f MB  errors %d\n",
				round, t.name, s.rps, s.p50, s.p99, s.lowP50, s.cpuPerReq, t.rssIdle, s.rssLoad, s.errors)
			if s.errors > 0 {
				return fmt.Errorf("%s answered %d errors; see the logs in %s", t.name, s.errors, work)
			}
			results[t.name] = append(results[t.name], s)
		}
	}
	report(os.Stdout, o, gen, targets, results)
	return nil
}

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

type loadResult struct {
	rps, p50, p99    float64
	requests, errors int64
}

func load(gen, url string, conns int, d time.Duration) (loadResult, error) {
	if gen == "wrk" {
		return wrk(url, conns, d)
	}
	return goLoad(url, conns, d)
}

var (
	reqsRE  = regexp.MustCompile(`(\d+) requests in`)
	rpsRE   = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	pctRE   = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$`)
	errorRE = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func wrk(url string, conns int, d time.Duration) (loadResult, error) {
	threads := min(conns, 2)
	if loadCPUs() != "" {
		threads = 1
	}
	// Callers send a credential of their own: the proxies replace it, and the direct
	// upstream (which refuses requests without one) accepts it.
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", int(d.Seconds())),
		"-H", "Authorization: Bearer caller-token", "--latency", url}
	cmd := exec.Command("wrk", args...)
	if cpus := loadCPUs(); cpus != "" {
		cmd = exec.Command("taskset", append([]string{"-c", cpus, "wrk"}, args...)...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return loadResult{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	var r loadResult
	text := string(out)
	if m := rpsRE.FindStringSubmatch(text); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reqsRE.FindStringSubmatch(text); m != nil {
		r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	for _, m := range pctRE.FindAllStringSubmatch(text, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "ms":
			v *= 1000
		case "s":
			v *= 1e6
		}
		if m[1] == "50" {
			r.p50 = v
		} else {
			r.p99 = v
		}
	}
	for _, m := range errorRE.FindAllStringSubmatch(text, -1) {
		for _, g := range m[1:] {
			n, _ := strconv.ParseInt(g, 10, 64)
			r.errors += n
		}
	}
	if r.rps == 0 {
		return r, fmt.Errorf("could not parse wrk output: %s", text)
	}
	return r, nil
}

// goLoad is a closed-loop generator: conns goroutines, one keep-alive connection each.
func goLoad(url string, conns int, d time.Duration) (loadResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	lat := make([][]float64, conns)
	errs := make([]int64, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			for ctx.Err() == nil {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				req.Header.Set("Authorization", "Bearer caller-token")
				resp, err := c.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs[i]++
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs[i]++
				}
				lat[i] = append(lat[i], float64(time.Since(t0).Microseconds()))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []float64
	var r loadResult
	for i := range conns {
		all = append(all, lat[i]...)
		r.errors += errs[i]
	}
	if len(all) == 0 {
		return r, errors.New("no request succeeded")
	}
	slices.Sort(all)
	r.requests = int64(len(all))
	r.rps = float64(len(all)) / elapsed.Seconds()
	r.p50 = all[len(all)/2]
	r.p99 = all[len(all)*99/100]
	return r, nil
}

func startNginx(path, work, upstream string) (string, *exec.Cmd, error) {
	addr := procs.FreeAddr()
	up := strings.TrimPrefix(upstream, "http://")
	dir := filepath.Join(work, "nginx")
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	conf := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body; proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fcgi; uwsgi_temp_path %[1]s/uwsgi; scgi_temp_path %[1]s/scgi;
  upstream spotify { server %[2]s; keepalive 256; }
  server {
    listen %[3]s;
    location / {
      proxy_pass http://spotify;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer static-token";
    }
  }
}
`, dir, up, addr)
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return "", nil, err
	}
	args := []string{path, "-c", cf, "-p", dir, "-g", "daemon off;"}
	cmd := exec.Command(args[0], args[1:]...)
	if cpus := serverCPUs(); cpus != "" {
		cmd = exec.Command("taskset", append([]string{"-c", cpus}, args...)...)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	if err := procs.WaitTCP(addr, 10*time.Second); err != nil {
		cmd.Process.Kill()
		return "", nil, err
	}
	return "http://" + addr, cmd, nil
}

func waitHTTP(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready", url)
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

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func report(w io.Writer, o options, gen string, targets []target, res map[string][]sample) {
	med := func(name string, f func(sample) float64) float64 {
		var xs []float64
		for _, s := range res[name] {
			xs = append(xs, f(s))
		}
		return median(xs)
	}
	bareRPS := med(bareName, func(s sample) float64 { return s.rps })
	tunedRPS := med(tunedName, func(s sample) float64 { return s.rps })
	nginxRPS := med("nginx (static header)", func(s sample) float64 { return s.rps })
	directLow := med("direct (upstream stub)", func(s sample) float64 { return s.lowP50 })
	bareAdded := med(bareName, func(s sample) float64 { return s.lowP50 }) - directLow
	fmt.Fprintf(w, "Load: %s, %d connections, %s per configuration and round, %d interleaved rounds, medians; servers pinned to CPU %s, load generator to CPU %s.\n\n",
		gen, o.conns, o.duration, o.rounds, orDash(serverCPUs()), orDash(loadCPUs()))
	fmt.Fprintln(w, "| configuration | req/s @64 | × bare | × tuned bare | × nginx | p50 @64 | p99 @64 | added p50 @1 | × bare added | CPU µs/req | RSS idle | RSS @64 | errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, t := range targets {
		rps := med(t.name, func(s sample) float64 { return s.rps })
		added := med(t.name, func(s sample) float64 { return s.lowP50 }) - directLow
		var errs int64
		for _, s := range res[t.name] {
			errs += s.errors
		}
		ratio := func(a, b float64) string {
			if b == 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f", a/b)
		}
		addedS, addedR := fmt.Sprintf("%.0f µs", added), ratio(added, bareAdded)
		if t.name == "direct (upstream stub)" {
			addedS, addedR = "0 (baseline)", "–"
		}
		cpu := med(t.name, func(s sample) float64 { return s.cpuPerReq })
		rssI := t.rssIdle
		rssL := med(t.name, func(s sample) float64 { return s.rssLoad })
		cpuS, rssIS, rssLS := fmt.Sprintf("%.1f", cpu), fmt.Sprintf("%.1f MB", rssI), fmt.Sprintf("%.1f MB", rssL)
		if t.pids == nil {
			cpuS, rssIS, rssLS = "–", "–", "–"
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %.0f µs | %.0f µs | %s | %s | %s | %s | %s | %d |\n",
			t.name, rps, ratio(rps, bareRPS), ratio(rps, tunedRPS), ratio(rps, nginxRPS),
			med(t.name, func(s sample) float64 { return s.p50 }), med(t.name, func(s sample) float64 { return s.p99 }),
			addedS, addedR, cpuS, rssIS, rssLS, errs)
	}
}

const (
	bareName  = "bare ReverseProxy"
	tunedName = "bare ReverseProxy, tuned"
)

func orDash(s string) string {
	if s == "" {
		return "(unpinned)"
	}
	return s
}
