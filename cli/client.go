package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
)

const defaultAdminURL = "http://127.0.0.1:9090"

// connFlags are the connection flags every API command takes.
type connFlags struct {
	adminURL, tokenFile string
}

func addConnFlags(fs *flag.FlagSet) *connFlags {
	c := &connFlags{}
	fs.StringVar(&c.adminURL, "admin-url", "", "the proxy's admin listener (default $ADMIN_URL, else from $ADMIN_ADDR, else "+defaultAdminURL+")")
	fs.StringVar(&c.tokenFile, "admin-token-file", "", "file holding the admin token (default $ADMIN_TOKEN, or $ADMIN_TOKEN_FILE)")
	return c
}

// client is the admin API as the commands use it.
type client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// client resolves the flags and the environment into a client. Errors name the
// flag or the variable that is wrong.
func (c *connFlags) client(e *Env) (*client, error) {
	raw, from := c.adminURL, "--admin-url"
	if raw == "" {
		raw, from = e.Getenv("ADMIN_URL"), "ADMIN_URL"
	}
	if raw == "" {
		raw, from = fromAdminAddr(e.Getenv("ADMIN_ADDR")), "ADMIN_ADDR"
	}
	if raw == "" {
		raw = defaultAdminURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, usagef("%s: %q is not an http(s) URL such as %s", from, raw, defaultAdminURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	token, err := c.adminToken(e)
	if err != nil {
		return nil, err
	}
	return &client{base: u, token: token, http: e.HTTPClient}, nil
}

// fromAdminAddr is the admin URL of the proxy's own ADMIN_ADDR (set in its pod, so
// that `kubectl exec … spotify-token-proxy accounts list` finds it); a wildcard
// host means loopback. "" when unset or not host:port.
func fromAdminAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if addr == "" || err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func (c *connFlags) adminToken(e *Env) (string, error) {
	if c.tokenFile != "" {
		return readSecretFile("--admin-token-file", c.tokenFile, e)
	}
	tok, file := e.Getenv("ADMIN_TOKEN"), e.Getenv("ADMIN_TOKEN_FILE")
	switch {
	case tok != "" && file != "":
		return "", usagef("ADMIN_TOKEN_FILE: set either ADMIN_TOKEN or ADMIN_TOKEN_FILE, not both")
	case file != "":
		return readSecretFile("ADMIN_TOKEN_FILE", file, e)
	case tok != "":
		return tok, nil
	}
	return "", usagef("no admin token: set ADMIN_TOKEN or ADMIN_TOKEN_FILE to the proxy's admin token")
}

// maxSecretFile bounds a token file (a refresh token is a few hundred bytes).
const maxSecretFile = 64 << 10

// readSecretFile reads a token from path ("-": stdin), trimmed; errors name the
// setting, never the content.
func readSecretFile(name, path string, e *Env) (string, error) {
	var r io.Reader
	if path == "-" {
		r = e.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", usagef("%s: cannot read %s: %v", name, path, err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxSecretFile+1))
	if err != nil {
		return "", usagef("%s: reading %s: %v", name, path, err)
	}
	if len(b) > maxSecretFile {
		return "", usagef("%s: %s is larger than %d bytes", name, path, maxSecretFile)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", usagef("%s: %s is empty", name, path)
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", usagef("%s: %s holds more than one line", name, path)
	}
	return s, nil
}

// apiError is an answer of the admin API other than 2xx.
type apiError struct {
	Method, Path string
	Status       int
	Reason       string
	Message      string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Reason != "" {
		s += " " + e.Reason
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Status == http.StatusUnauthorized && e.Reason == "ADMIN_UNAUTHORIZED" {
		s += " (check ADMIN_TOKEN or ADMIN_TOKEN_FILE)"
	}
	return s
}

// do sends one request; a 2xx answer's JSON body is decoded into out (when not nil).
func (c *client) do(ctx context.Context, method, path string, query url.Values, body io.Reader, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("cannot reach the admin API at %s (--admin-url, ADMIN_URL or ADMIN_ADDR): %w", c.base.Redacted(), unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		ae := &apiError{Method: method, Path: path, Status: resp.StatusCode}
		var eb struct {
			Error struct {
				Message string `json:"message"`
				Reason  string `json:"reason"`
			} `json:"error"`
		}
		if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&eb) == nil {
			ae.Reason, ae.Message = eb.Error.Reason, eb.Error.Message
		}
		return ae
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
	}
	return nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// account is the part of an account of the list the commands read; the list
// keeps every field as the API sent it.
type account struct {
	ID           string  `json:"id"`
	Status       string  `json:"status"`
	Scope        string  `json:"scope"`
	ExpiresAt    *string `json:"expires_at"`
	RefreshedAt  *string `json:"refreshed_at"`
	AuthorizedAt *string `json:"authorized_at"`
	// RefreshTokenExpiresAt: when the user must authorise the app again (null: no limit or unknown).
	RefreshTokenExpiresAt *string `json:"refresh_token_expires_at"`
}

// listPageLimit is the page size asked of GET /admin/v1/accounts (its maximum).
const listPageLimit = 1000

// eachAccount calls fn for every account in id order, following next_cursor to
// the end (or until fn returns errStop).
func (c *client) eachAccount(ctx context.Context, fn func(raw json.RawMessage, a account) error) error {
	cursor := ""
	for {
		q := url.Values{"limit": {fmt.Sprint(listPageLimit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Accounts   []json.RawMessage `json:"accounts"`
			NextCursor string            `json:"next_cursor"`
		}
		if err := c.do(ctx, http.MethodGet, "/admin/v1/accounts", q, nil, &page); err != nil {
			return err
		}
		for _, raw := range page.Accounts {
			var a account
			if err := json.Unmarshal(raw, &a); err != nil {
				return fmt.Errorf("GET /admin/v1/accounts: unexpected account: %w", err)
			}
			if err := fn(raw, a); err != nil {
				if errors.Is(err, errStop) {
					return nil
				}
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		if page.NextCursor == cursor {
			return fmt.Errorf("GET /admin/v1/accounts: the same cursor came back twice; stopping")
		}
		cursor = page.NextCursor
	}
}

var errStop = errors.New("stop")

// findAccount reads one account (nil when there is no such account): the list's
// page of one from just before id. List cursors are account ids, exclusive, and
// pages are in byte order; "\xff" sorts after every character of an id. So it costs
// one small request however many accounts there are.
func (c *client) findAccount(ctx context.Context, id string) (json.RawMessage, *account, error) {
	if id == "" {
		return nil, nil, nil
	}
	last := len(id) - 1
	q := url.Values{"limit": {"1"}, "cursor": {id[:last] + string([]byte{id[last] - 1, 0xff})}}
	var page struct {
		Accounts []json.RawMessage `json:"accounts"`
	}
	if err := c.do(ctx, http.MethodGet, "/admin/v1/accounts", q, nil, &page); err != nil {
		return nil, nil, err
	}
	if len(page.Accounts) == 0 {
		return nil, nil, nil
	}
	var a account
	if err := json.Unmarshal(page.Accounts[0], &a); err != nil {
		return nil, nil, fmt.Errorf("GET /admin/v1/accounts: unexpected account: %w", err)
	}
	if a.ID != id {
		return nil, nil, nil
	}
	return page.Accounts[0], &a, nil
}
