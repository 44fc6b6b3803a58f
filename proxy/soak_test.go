package proxy_test

import (
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSoak runs the whole stack under load with 10 s tokens for SOAK_DURATION (make
// soak DURATION=10m) and checks that goroutines and memory stay flat: the last third
// of the samples may not exceed the first third by more than a small margin.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("SOAK_DURATION"))
	if err != nil || d <= 0 {
		t.Skip("set SOAK_DURATION (make soak DURATION=10m)")
	}
	s := newStack(t, 10*time.Second, 3*time.Second)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	stop := make(chan struct{})
	var requests, failures atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(s.proxy.URL + "/v1/me")
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
			}
		}()
	}
	type sample struct {
		goroutines int
		heap       uint64
	}
	var samples []sample
	tick := time.NewTicker(max(d/30, time.Second))
	deadline := time.After(d)
loop:
	for {
		select {
		case <-deadline:
			break loop
		case <-tick.C:
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			samples = append(samples, sample{runtime.NumGoroutine(), ms.HeapInuse})
		}
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	if len(samples) < 6 {
		t.Fatalf("only %d samples: use a longer SOAK_DURATION", len(samples))
	}
	third := len(samples) / 3
	avg := func(xs []sample) (g float64, h float64) {
		for _, x := range xs {
			g += float64(x.goroutines)
			h += float64(x.heap)
		}
		return g / float64(len(xs)), h / float64(len(xs))
	}
	g0, h0 := avg(samples[:third])
	g1, h1 := avg(samples[len(samples)-third:])
	st := s.emu.Stats()
	t.Logf("%d requests, %d failures, %d refreshes; goroutines %.0f → %.0f; heap in use %.1f MB → %.1f MB",
		requests.Load(), failures.Load(), st.RefreshCalls, g0, g1, h0/(1<<20), h1/(1<<20))
	if failures.Load() != 0 {
		t.Errorf("%d failed requests", failures.Load())
	}
	if g1 > g0+8 {
		t.Errorf("goroutines grew from %.0f to %.0f", g0, g1)
	}
	if h1 > h0*1.5+4<<20 {
		t.Errorf("heap grew from %.1f MB to %.1f MB", h0/(1<<20), h1/(1<<20))
	}
	if st.RefreshCalls < int64(d/(7*time.Second)) {
		t.Errorf("only %d refreshes in %s of 10 s tokens", st.RefreshCalls, d)
	}
}
