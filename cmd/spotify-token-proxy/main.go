// Command spotify-token-proxy is a reverse proxy for the Spotify Web API that attaches
// fresh OAuth tokens to every request. Run it with --help for its settings.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if code, ok := oneShot(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); ok {
		stop()
		os.Exit(code)
	}
	code := exitCode(run(ctx, os.Args[1:], os.Getenv), os.Stderr)
	stop()
	os.Exit(code)
}
