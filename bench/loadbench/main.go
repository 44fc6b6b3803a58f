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
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
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
