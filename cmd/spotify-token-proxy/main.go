// Command spotify-token-proxy is a reverse proxy for the Spotify Web API that attaches
// fresh OAuth tokens to every request. Run it with --help for its settings; with a
// command (accounts, token, login, events, check-config, version) it is the
// operator's CLI of package cli instead.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spotify-token-proxy/spotify-token-proxy/cli"
	"github.com/spotify-token-proxy/spotify-token-proxy/internal/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if code, ok := oneShot(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); ok {
		stop()
		os.Exit(code)
	}
	var code int
	if args := os.Args[1:]; cli.IsCommand(args) {
		code = cli.Run(ctx, args, cli.Env{
			Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
			Version:     buildinfo.String(),
			CheckConfig: checkConfig,
		})
	} else {
		code = exitCode(run(ctx, args, os.Getenv), os.Stderr)
	}
	stop()
	os.Exit(code)
}

// checkConfig is start-up's validation, for `check-config`.
func checkConfig(getenv func(string) string) error {
	_, _, err := checkStartup(nil, getenv, io.Discard)
	return err
}
