package main

import (
	"fmt"
	"io"
	"slices"
)

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
