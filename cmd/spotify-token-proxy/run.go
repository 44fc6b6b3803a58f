package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/spotify-token-proxy/spotify-token-proxy/admin"
	"github.com/spotify-token-proxy/spotify-token-proxy/config"
	"github.com/spotify-token-proxy/spotify-token-proxy/internal/buildinfo"
	"github.com/spotify-token-proxy/spotify-token-proxy/metrics"
	"github.com/spotify-token-proxy/spotify-token-proxy/proxy"
	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyauth"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
	"github.com/spotify-token-proxy/spotify-token-proxy/tracing"
)

// tokenCallTimeout bounds one call to Spotify's token endpoint. It does not depend on
// LOCK_TTL: the lock is extended while the call runs, and a slow but working token
// endpoint must still succeed (a rotated refresh token may be in its answer).
const tokenCallTimeout = 30 * time.Second

// usageError marks errors that come from bad configuration (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode prints err (one line) and maps it to the process exit status.
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, config.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "spotify-token-proxy: configuration error:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "spotify-token-proxy:", err)
		return 1
	}
}

// run is the whole program: it returns when ctx ends (after a graceful shutdown) or
// when start-up fails.
func run(ctx context.Context, args []string, getenv func(string) string) error {
	return runWith(ctx, args, getenv, os.Stderr)
}

// runWith is run with the log (and --help) output given, for tests.
func runWith(ctx context.Context, args []string, getenv func(string) string, logOut io.Writer) error {
	cfg, codec, err := checkStartup(args, getenv, logOut)
	if err != nil {
		return err
	}
	log := newLogger(cfg, logOut)
	tp, err := startTracing(ctx, getenv, log)
	if err != nil {
		return err
	}
	defer stopTracing(ctx, tp, log)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)

	st, err := openStore(ctx, cfg, codec, log)
	if err != nil {
		return err
	}
	defer st.close()
	log = st.log
	if st.redisWatch != nil {
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go st.redisWatch.run(wctx)
	}

	auth := spotifyauth.New(spotifyauth.Config{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, AccountsURL: cfg.AccountsURL.String(),
		RedirectURL: cfg.AuthRedirectURL, Timeout: tokenCallTimeout,
		// Token calls are client spans within the refresh (or login) span that makes them.
		Transport: tracing.ChildTransport(spotifyauth.NewTransport(), tp, tracing.Propagator()),
	})
	defer auth.CloseIdleConnections()

	evlog, err := openEvents(cfg, st, m, log)
	if err != nil {
		return err
	}
	src := tokenstore.NewSource(tokenstore.Config{
		Store: st.store, Locker: st.locker, Notifier: st.notifier, Refresher: auth, Metrics: m, Logger: log,
		Status:     statusEvents{evlog},
		AppAccount: cfg.AppAccount, RefreshAhead: tokenstore.RefreshAheadSetting(cfg.RefreshAhead), CacheSize: cfg.CacheSize,
		UnauthorizedRefreshInterval: cfg.UnauthorizedRefreshInterval,
		RefreshTimeout:              tokenstore.RefreshTimeoutFor(cfg.LockTTL, tokenCallTimeout),
		Tracing:                     tokenstore.Tracing{Provider: tp, AccountIDs: cfg.TraceAccountIDs},
		RefreshTokenLifetime:        cfg.RefreshTokenLifetime, ExpiryWarning: cfg.ExpiryWarning,
		ValidateEvery: cfg.ValidateEvery, ValidatePace: cfg.ValidatePace(),
	})
	if cfg.ValidateEvery > 0 {
		log.Info("background validation on", "every", cfg.ValidateEvery.String(), "rate", cfg.ValidateRate.String())
	}
	if cfg.RefreshToken != "" {
		if err := seed(ctx, src, cfg.DefaultAccount, cfg.RefreshToken, log); err != nil {
			return err
		}
	}
	src.Run()
	defer src.Close()
	defer runEvents(ctx, cfg, evlog, src)()

	transport := proxy.NewTransport(cfg.UpstreamTimeout)
	defer transport.CloseIdleConnections()
	instrumented := m.InstrumentUpstream(transport)
	gateCtx, stopGate := context.WithCancel(ctx)
	defer stopGate()
	gate := newRateLimitGate(gateCtx, cfg, st, m, log)
	px, err := proxy.New(proxy.Config{
		Upstream: cfg.APIURL, Tokens: src, DefaultAccount: cfg.DefaultAccount, MaxReplayBody: cfg.MaxReplayBody,
		ProxyAuthToken: cfg.ProxyAuthToken, Transport: instrumented, Metrics: m, Logger: log,
		BodyReadTimeout: cfg.BodyReadTimeout, MaxReplayMemory: cfg.MaxReplayMemory,
		UpstreamIdleTimeout: cfg.UpstreamIdleTimeout, AllowedHosts: cfg.AllowedHosts,
		RewriteResponseURLs: cfg.RewriteResponseURLs, PublicURL: cfg.PublicURL,
		RateLimit: gate, UpstreamRetries: cfg.UpstreamRetries,
		Tracing: proxy.Tracing{Provider: tp, AccountIDs: cfg.TraceAccountIDs},
	})
	if err != nil {
		return err
	}
	adm := admin.New(admin.Config{
		Tokens: src, Gatherer: reg, AdminToken: cfg.AdminToken, Login: auth, RedirectURL: cfg.AuthRedirectURL,
		Scopes: cfg.AuthScopes, States: st.states, Metrics: m, Logger: log,
		PublicAdminURL: cfg.PublicAdminURL, SessionTTL: cfg.AdminSessionTTL, Pprof: cfg.Pprof,
		RefreshTokenLifetime: cfg.RefreshTokenLifetime,
		Events:               evlog, EventsHandler: evlog.Handler(), EventLog: recentEvents{evlog},
		RateLimits: admin.GateLimits(gate),
	})

	proxyLn, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return usageError{fmt.Errorf("LISTEN_ADDR: %w", err)}
	}
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		proxyLn.Close()
		return usageError{fmt.Errorf("ADMIN_ADDR: %w", err)}
	}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	proxySrv := &http.Server{
		Handler: px, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		MaxHeaderBytes: 64 << 10, ErrorLog: errLog,
	}
	adminSrv := &http.Server{
		Handler: traceAdmin(adm.Handler(), tp, cfg.TraceAccountIDs), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10, ErrorLog: errLog,
	}
	errc := make(chan error, 2)
	go func() { errc <- serve(proxySrv, proxyLn) }()
	go func() { errc <- serve(adminSrv, adminLn) }()
	log.Info("spotify-token-proxy started", "version", buildinfo.Get().Version, "listen", proxyLn.Addr().String(),
		"admin", adminLn.Addr().String(), "upstream", cfg.APIURL.String(), "store", st.kind)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	// Shutdown order: readiness goes 503, stop accepting and drain in-flight
	// requests within the deadline, then stop background refreshes (deferred) and
	// close idle upstream connections (deferred).
	log.Info("shutting down", "drain_timeout", cfg.ShutdownTimeout.String())
	adm.SetDraining()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := proxySrv.Shutdown(sctx); err != nil {
		log.Warn("drain deadline passed; closing remaining connections", "error", err)
		proxySrv.Close()
	}
	_ = adminSrv.Shutdown(sctx)
	log.Info("stopped")
	return runErr
}

// checkStartup is start-up's validation of the settings, before anything is opened:
// config.Load, the encryption keys and, for the file store, TOKEN_FILE's place.
// check-config runs exactly this. Errors name the setting and are usageErrors.
func checkStartup(args []string, getenv func(string) string, out io.Writer) (*config.Config, *tokenstore.Codec, error) {
	cfg, err := config.Load(args, getenv, out)
	if err != nil {
		if errors.Is(err, config.ErrHelp) {
			return nil, nil, err
		}
		return nil, nil, usageError{err}
	}
	codec, err := tokenstore.NewCodec(cfg.EncryptionKeys...)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("TOKEN_ENCRYPTION_KEY: %w", err)}
	}
	if !cfg.UsesRedis() {
		if err := checkTokenFile(cfg.TokenFile); err != nil {
			return nil, nil, usageError{err}
		}
	}
	return cfg, codec, nil
}

// seed stores SPOTIFY_REFRESH_TOKEN for the default account when the store has no
// token for it. A corrupt record stops start-up; a store that does not answer yet is
// retried in the background (readiness reports it meanwhile).
func seed(ctx context.Context, src *tokenstore.Source, account, refreshToken string, log *slog.Logger) error {
	try := func() error {
		seeded, err := src.Seed(ctx, account, refreshToken)
		if err == nil {
			if seeded {
				log.Info("seeded account from SPOTIFY_REFRESH_TOKEN", "account", account)
			} else {
				log.Info("SPOTIFY_REFRESH_TOKEN ignored: the store already holds a token for the account", "account", account)
			}
		}
		return err
	}
	err := try()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tokenstore.ErrCorrupt):
		return fmt.Errorf("seeding %s from SPOTIFY_REFRESH_TOKEN: %w", account, err)
	}
	log.Warn("seeding from SPOTIFY_REFRESH_TOKEN failed; retrying in the background", "account", account, "error", err)
	go func() {
		for delay := time.Second; ; delay = min(delay*2, 30*time.Second) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			if try() == nil {
				return
			}
		}
	}()
	return nil
}

func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func newLogger(cfg *config.Config, out io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(out, opts))
	}
	return slog.New(slog.NewJSONHandler(out, opts))
}
