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
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/internal/buildinfo"
)

// defaultAdminAddr is ADMIN_ADDR's default (config/config.go).
const defaultAdminAddr = "127.0.0.1:9090"

// oneShot runs the commands that do not start the proxy: `--version` (also `version`,
// `-version`) and `healthcheck`. ok is false when args name neither.
//
// healthcheck is for images without a shell or curl (distroless): Docker's and
// Compose's HEALTHCHECK run `spotify-token-proxy healthcheck`, which GETs /readyz on
// the admin listener and exits 0 when it answers 200, else 1.
func oneShot(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, buildinfo.String())
		return 0, true
	case "healthcheck":
		if err := healthcheck(ctx, args[1:], getenv, stderr); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0, true
			}
			fmt.Fprintln(stderr, "spotify-token-proxy healthcheck:", err)
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func healthcheck(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "", "readiness URL (default http://ADMIN_ADDR/readyz, an unspecified host read as loopback)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	u := *target
	if u == "" {
		var err error
		if u, err = readyzURL(getenv("ADMIN_ADDR")); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}

// readyzURL is the readiness URL of the admin listener ADMIN_ADDR; 0.0.0.0 and [::]
// (listen everywhere, as in the image) are reached on loopback.
func readyzURL(adminAddr string) (string, error) {
	if adminAddr == "" {
		adminAddr = defaultAdminAddr
	}
	host, port, err := net.SplitHostPort(adminAddr)
	if err != nil {
		return "", fmt.Errorf("ADMIN_ADDR: %w", err)
	}
	switch ip := net.ParseIP(host); {
	case host == "":
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified() && ip.To4() != nil:
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/readyz"}).String(), nil
}
