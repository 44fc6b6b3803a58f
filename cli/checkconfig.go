package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spotify-token-proxy/spotify-token-proxy/config"
)

// checkConfig: check-config. Validates the environment with the proxy's own
// start-up checks and prints the effective settings, secrets redacted.
func checkConfig(_ context.Context, e *Env, args []string) error {
	fs := newFlags("check-config", "", e)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if e.CheckConfig == nil {
		return errors.New("check-config: no start-up check in this build")
	}
	if err := e.CheckConfig(e.Getenv); err != nil {
		return usagef("check-config: configuration error: %v", err)
	}
	fmt.Fprintln(e.Stdout, "The configuration is valid. Effective settings (secrets redacted):")
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	for _, v := range config.Effective(e.Getenv) {
		from := "default"
		if v.FromEnv {
			from = "environment"
		}
		val := v.Value
		if val == "" {
			val = "(empty)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Var, val, from)
	}
	return tw.Flush()
}
