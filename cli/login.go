package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// login: login ID [--timeout D] [--scope S]. Prints the admin page's login link and
// waits until the account is linked anew.
func login(ctx context.Context, e *Env, args []string) error {
	fs := newFlags("login", "ID [--timeout=10m] [--scope=S]", e)
	conn := addConnFlags(fs.FlagSet)
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait for the login to complete")
	interval := fs.Duration("interval", 2*time.Second, "how often to look at the account meanwhile")
	scope := fs.String("scope", "", "scopes to ask for, space separated (default: the proxy's AUTH_SCOPES)")
	pos, err := parse(fs, args, "ID")
	if err != nil {
		return err
	}
	switch {
	case *timeout <= 0:
		return usagef("login: --timeout: must be positive")
	case *interval <= 0:
		return usagef("login: --interval: must be positive")
	}
	id := pos[0]
	c, err := conn.client(e)
	if err != nil {
		return err
	}
	if err := c.loginEnabled(ctx); err != nil {
		return err
	}
	_, before, err := c.findAccount(ctx, id)
	if err != nil {
		return err
	}
	q := url.Values{"account": {id}}
	if *scope != "" {
		q.Set("scope", *scope)
	}
	link := *c.base
	// In the proxy's pod, PUBLIC_ADMIN_URL is where a browser reaches the admin pages.
	if pub := e.Getenv("PUBLIC_ADMIN_URL"); pub != "" {
		u, err := url.Parse(pub)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("PUBLIC_ADMIN_URL: %q is not an http(s) URL", pub)
		}
		link = *u
		link.Path = strings.TrimRight(link.Path, "/")
	}
	link.User = nil // a link for a browser; credentials in ADMIN_URL stay here
	link.Path += "/auth/login"
	link.RawQuery = q.Encode()
	fmt.Fprintf(e.Stderr, "Open this link in a browser, sign in with the admin token if asked, confirm, and approve at Spotify:\n\n")
	fmt.Fprintf(e.Stdout, "%s\n", link.String())
	fmt.Fprintf(e.Stderr, "\nWaiting up to %s for %s to be linked (Ctrl-C stops waiting)...\n", *timeout, id)

	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for {
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("login: %s was not linked within %s (--timeout)", id, *timeout)
		case <-tick.C:
		}
		_, now, err := c.findAccount(wctx, id)
		if err != nil {
			if wctx.Err() != nil {
				continue
			}
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
				return err
			}
			fmt.Fprintf(e.Stderr, "login: looking at %s: %v (retrying)\n", id, err)
			continue
		}
		if linkedAnew(before, now) {
			fmt.Fprintf(e.Stdout, "%s is linked (status %s, scope %q)\n", id, now.Status, now.Scope)
			return nil
		}
	}
}

// linkedAnew: the account works and was authorised since before (or is new).
func linkedAnew(before, now *account) bool {
	if now == nil || now.Status != "ok" || now.AuthorizedAt == nil {
		return false
	}
	return before == nil || before.AuthorizedAt == nil || *before.AuthorizedAt != *now.AuthorizedAt
}

// loginEnabled checks that the admin listener serves the login pages.
func (c *client) loginEnabled(ctx context.Context) error {
	u := *c.base
	u.Path += "/auth/signin"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the admin API at %s (--admin-url or ADMIN_URL): %w", c.base.Redacted(), unwrapURL(err))
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return errors.New("login: the proxy serves no login pages: start it with AUTH_REDIRECT_URL (and ADMIN_TOKEN) set")
	}
	return nil
}
