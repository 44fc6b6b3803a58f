// Command spotify-emulator serves spotifyemu's stand-in for Spotify's
// accounts service and Web API on one address, with its control API under
// /_emulator/, for the demo, load tests and chaos tests.
//
// Give the printed URL as both SPOTIFY_ACCOUNTS_URL and SPOTIFY_API_URL.
// Absolute URLs in answers (paging links) use the scheme and Host of each
// request, or -base-url when given.
// It prints "listening on http://ADDR" once it accepts connections and stops
// gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "spotify-emulator:", err)
		os.Exit(1)
	}
}

// defaultScope is granted to the -refresh-token tokens unless -scope says
// otherwise: what the proxy's demo calls need.
const defaultScope = "user-read-private user-read-email user-read-playback-state user-modify-playback-state " +
	"playlist-modify-public playlist-modify-private ugc-image-upload"

// shutdownTimeout bounds the graceful shutdown; streams still open then are
// cut.
const shutdownTimeout = 10 * time.Second

type config struct {
	addr          string
	clientID      string
	clientSecret  string
	tokenLifetime time.Duration
	refreshPolicy spotifyemu.RefreshPolicy
	legacy401     bool
	refreshTokens []string
	scope         string
	baseURL       string
}

func parseFlags(args []string, out io.Writer) (config, error) {
	cfg := config{refreshPolicy: spotifyemu.RotateRevokeOld}
	fs := flag.NewFlagSet("spotify-emulator", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8090", "listen address (port 0 picks a free port)")
	fs.StringVar(&cfg.clientID, "client-id", "demo-client", "the only accepted client id")
	fs.StringVar(&cfg.clientSecret, "client-secret", "demo-secret", "the only accepted client secret")
	fs.DurationVar(&cfg.tokenLifetime, "token-lifetime", spotifyemu.DefaultTokenLifetime, "access token lifetime")
	fs.Func("refresh-policy", "refresh token policy: rotate, never or omit (default rotate)", func(s string) error {
		p, err := spotifyemu.ParseRefreshPolicy(s)
		cfg.refreshPolicy = p
		return err
	})
	fs.BoolVar(&cfg.legacy401, "legacy-401", false, "answer the pre-2026 per-cause 401 messages")
	fs.Func("refresh-token", "pre-registered live refresh token (repeatable, or comma-separated)", func(s string) error {
		for _, tok := range strings.Split(s, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				cfg.refreshTokens = append(cfg.refreshTokens, tok)
			}
		}
		return nil
	})
	fs.StringVar(&cfg.scope, "scope", defaultScope, "scope of the -refresh-token tokens")
	fs.StringVar(&cfg.baseURL, "base-url", "", "what absolute Web API URLs in answers (href, next, previous) start with, e.g. http://emulator:8090 (default: the scheme and Host of each request)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return cfg, cfg.validate()
}

func (c config) validate() error {
	switch {
	case c.clientID == "" || c.clientSecret == "":
		return errors.New("-client-id and -client-secret must not be empty")
	case c.tokenLifetime <= 0:
		return errors.New("-token-lifetime must be positive")
	}
	if c.baseURL != "" {
		u, err := url.Parse(c.baseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("-base-url %q must be an http or https URL without query or fragment", c.baseURL)
		}
	}
	return nil
}

// run serves until ctx is done, then shuts down gracefully.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	emu := spotifyemu.New(spotifyemu.Options{
		ClientID:      cfg.clientID,
		ClientSecret:  cfg.clientSecret,
		TokenLifetime: cfg.tokenLifetime,
		RefreshPolicy: cfg.refreshPolicy,
		Legacy401:     cfg.legacy401,
		BaseURL:       cfg.baseURL,
	})
	for _, tok := range cfg.refreshTokens {
		emu.AddRefreshToken(tok, cfg.scope)
	}
	mux := http.NewServeMux()
	mux.Handle("/_emulator/", emu.ControlHandler())
	mux.Handle("/", emu)

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: streams and injected latencies may be long.
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if _, err := fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr()); err != nil {
		_ = srv.Close()
		return fmt.Errorf("writing to stdout: %w", err)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
