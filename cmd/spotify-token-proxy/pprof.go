//go:build pprof

// Built with -tags pprof only: serves net/http/pprof on PPROF_ADDR (e.g.
// 127.0.0.1:6060) for profiling under load. Release builds do not contain it.

package main

import (
	"fmt"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
	"time"
)

func init() {
	addr := os.Getenv("PPROF_ADDR")
	if addr == "" {
		return
	}
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil {
			fmt.Fprintln(os.Stderr, "pprof:", err)
		}
	}()
}
