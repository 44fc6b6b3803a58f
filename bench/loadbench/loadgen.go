package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
)

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
