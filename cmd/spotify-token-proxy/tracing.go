package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/buildinfo"
	"github.com/spotify-token-proxy/spotify-token-proxy/tracing"
)

// flushTimeout bounds the export of the spans still buffered at exit.
const flushTimeout = 5 * time.Second

// startTracing builds the TracerProvider from the OTEL_* variables. A bad value is
// a usage error naming the variable.
func startTracing(ctx context.Context, getenv func(string) string, log *slog.Logger) (*tracing.Provider, error) {
	tp, err := tracing.New(ctx, getenv, buildinfo.Get().Version)
	if err != nil {
		var te *tracing.Error
		if errors.As(err, &te) {
			return nil, usageError{err}
		}
		return nil, err
	}
	if tp.Enabled() {
		log.Info("tracing on", "endpoint", tp.Endpoint, "protocol", tp.Protocol, "sampler", tp.Sampler)
	}
	return tp, nil
}

// stopTracing exports the spans still buffered.
func stopTracing(ctx context.Context, tp *tracing.Provider, log *slog.Logger) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	if err := tp.Shutdown(sctx); err != nil {
		log.Warn("exporting the last spans failed", "error", err)
	}
}

// traceAdmin records the admin listener's requests as server spans, except the
// probes and scrapes.
func traceAdmin(h http.Handler, tp *tracing.Provider, accountIDs bool) http.Handler {
	return tracing.Handler(h, tp, tracing.Propagator(), tracing.HandlerOptions{
		AccountIDs: accountIDs,
		Skip: func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return true
			}
			return false
		},
	})
}
