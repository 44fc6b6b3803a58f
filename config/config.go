// Package config turns the environment and the command line into a validated Config.
// Every setting is an environment variable and a kebab-case flag; the flag wins.
// Config is plain data: parsing and checking happen once, in Load.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/events"
	"github.com/spotify-token-proxy/spotify-token-proxy/ratelimit"
	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

// Config is the validated configuration.
type Config struct {
	ClientID, ClientSecret string
	RefreshToken           string
	APIURL, AccountsURL    *url.URL
	ListenAddr, AdminAddr  string
	AdminToken             string
	ProxyAuthToken         string
	RedisURL               string
	RedisAddrs             []string
	RedisMasterName        string
	RedisUsername          string
	RedisPassword          string
	TokenFile              string
	EncryptionKeys         [][]byte // first seals, all open
	KeyPrefix              string
	DefaultAccount         string
	AppAccount             string
	RefreshAhead           time.Duration
	LockTTL                time.Duration
	UpstreamTimeout        time.Duration
	MaxReplayBody          int64
	AuthRedirectURL        string
	AuthScopes             string
	LogLevel               string
	LogFormat              string
	ShutdownTimeout        time.Duration
	CacheSize              int

	// TraceAccountIDs records account ids as span attributes (they can be personal
	// data). Tracing itself is configured by the standard OTEL_* variables.
	TraceAccountIDs bool

	// Listener hardening.
	BodyReadTimeout     time.Duration // a request body must keep arriving within this
	MaxReplayMemory     int64         // process-wide cap on bytes held in replay buffers
	UpstreamIdleTimeout time.Duration // an upstream body with no bytes for this long is cut
	// AllowedHosts are the Host header names the proxy answers (lower case, no port,
	// IPv6 without brackets); nil means any Host (ALLOWED_HOSTS=*).
	AllowedHosts []string
	// PublicURL is the proxy's base URL as callers reach it; nil means http:// + Host.
	PublicURL *url.URL
	// RewriteResponseURLs rewrites the upstream origin's /v1/ URLs in JSON answers
	// and Location headers to PublicURL.
	RewriteResponseURLs bool
	// UnauthorizedRefreshInterval is the per-account floor between 401-caused refreshes.
	UnauthorizedRefreshInterval time.Duration
	// AcceptPlaintext lets a store with an encryption key read plaintext records
	// (a one-time migration; they are sealed on their next write).
	AcceptPlaintext bool
	// PublicAdminURL is the admin listener's public base URL (https ⇒ Secure cookies).
	PublicAdminURL *url.URL
	// AdminSessionTTL is how long an admin browser session lasts.
	AdminSessionTTL time.Duration
	// Pprof serves net/http/pprof under /debug/pprof/ on the admin listener,
	// behind the admin token.
	Pprof bool

	// Account events (config/events.go).
	WebhookURL           *url.URL      // nil: events are only kept for polling
	WebhookSecret        events.Secret // redacted by String
	WebhookRetryFor      time.Duration
	ExpiryWarning        time.Duration
	RefreshTokenLifetime time.Duration // 0: none

	// Rate limits (config_ratelimit.go).
	RateLimit           ratelimit.Limit // shared call budget; zero: none
	RateLimitPerAccount ratelimit.Limit // per-account share of it; zero: none
	RateLimitMaxWait    time.Duration   // wait at most this for a block or budget slot
	UpstreamRetries     int             // retries of GET/HEAD after 502/503/504 or no answer
}

// UsesRedis reports whether a Redis store is configured.
func (c *Config) UsesRedis() bool { return c.RedisURL != "" || len(c.RedisAddrs) > 0 }

// RedisOptions is the Redis deployment the REDIS_* settings describe.
func (c *Config) RedisOptions() tokenstore.RedisOptions {
	return tokenstore.RedisOptions{
		URL: c.RedisURL, Addrs: c.RedisAddrs, MasterName: c.RedisMasterName,
		Username: c.RedisUsername, Password: c.RedisPassword,
	}
}

// redisSettingError names the REDIS_* setting behind a tokenstore.RedisOptionError.
func redisSettingError(err error) error {
	var oe *tokenstore.RedisOptionError
	if !errors.As(err, &oe) {
		return &Error{"REDIS_URL", err.Error()}
	}
	setting := map[string]string{"URL": "REDIS_URL", "Addrs": "REDIS_ADDRS", "MasterName": "REDIS_MASTER_NAME"}[oe.Field]
	if setting == "" {
		setting = "REDIS_URL"
	}
	return &Error{setting, oe.Reason}
}

// setting is one variable of the table.
type setting struct {
	env, def, help string
	secret         bool
}

// settings is the configuration table (README.md, "Configuration"), in --help order.
var settings = []setting{
	{env: "SPOTIFY_CLIENT_ID", help: "Spotify app client id (required)"},
	{env: "SPOTIFY_CLIENT_SECRET", help: "Spotify app client secret (required unless SPOTIFY_CLIENT_SECRET_FILE)", secret: true},
	{env: "SPOTIFY_CLIENT_SECRET_FILE", help: "file holding the client secret (mounted secrets)"},
	{env: "SPOTIFY_REFRESH_TOKEN", help: "refresh token seeding DEFAULT_ACCOUNT when the store has none", secret: true},
	{env: "SPOTIFY_API_URL", def: "https://api.spotify.com", help: "upstream Web API base URL"},
	{env: "SPOTIFY_ACCOUNTS_URL", def: "https://accounts.spotify.com", help: "accounts service base URL ({url}/api/token, {url}/authorize)"},
	{env: "LISTEN_ADDR", def: "127.0.0.1:8080", help: "proxy listener"},
	{env: "ADMIN_ADDR", def: "127.0.0.1:9090", help: "admin listener: /healthz, /readyz, /metrics, /admin/v1, /auth"},
	{env: "ADMIN_TOKEN", help: "bearer secret for /admin/v1 and the admin sign-in (/auth/login); empty disables them", secret: true},
	{env: "ADMIN_TOKEN_FILE", help: "file holding ADMIN_TOKEN (mounted secrets)"},
	{env: "PROXY_AUTH_TOKEN", help: "when set, callers must send Proxy-Authorization: Bearer <it>", secret: true},
	{env: "REDIS_URL", help: "redis:// or rediss:// URL; empty means the embedded file store", secret: true},
	{env: "REDIS_ADDRS", help: "comma-separated host:port list: Sentinel (with REDIS_MASTER_NAME) or Cluster"},
	{env: "REDIS_MASTER_NAME", help: "Sentinel master name"},
	{env: "REDIS_USERNAME", help: "Redis ACL user"},
	{env: "REDIS_PASSWORD", help: "Redis password", secret: true},
	{env: "TOKEN_FILE", def: "./data/tokens.json", help: "embedded store file (mode 0600, atomic replace)"},
	{env: "TOKEN_ENCRYPTION_KEY", help: "base64 32-byte key: tokens are stored AES-256-GCM encrypted", secret: true},
	{env: "TOKEN_ENCRYPTION_OLD_KEYS", help: "comma-separated base64 keys that may still decrypt (key rotation)", secret: true},
	{env: "KEY_PREFIX", def: "spotify-token-proxy:", help: "Redis key prefix"},
	{env: "DEFAULT_ACCOUNT", def: "default", help: "account used when a request has no X-Spotify-Account"},
	{env: "APP_ACCOUNT", def: "app", help: "the client-credentials account"},
	{env: "REFRESH_AHEAD", def: "5m", help: "refresh in the background when a token has less than this left"},
	{env: "LOCK_TTL", def: "10s", help: "distributed refresh lock TTL (extended while a refresh runs)"},
	{env: "UPSTREAM_TIMEOUT", def: "30s", help: "time to wait for Spotify's response headers"},
	{env: "MAX_REPLAY_BODY", def: "1MiB", help: "request bodies up to this are buffered so a 401 can be retried"},
	{env: "AUTH_REDIRECT_URL", help: "login callback, e.g. http://127.0.0.1:9090/auth/callback; enables /auth/login"},
	{env: "AUTH_SCOPES", help: "default scopes of the login flow (space separated)"},
	{env: "LOG_LEVEL", def: "info", help: "debug, info, warn or error"},
	{env: "LOG_FORMAT", def: "json", help: "json or text"},
	{env: "TRACE_ACCOUNT_IDS", def: "false", help: "record account ids as span attributes (traces: OTEL_EXPORTER_OTLP_ENDPOINT); they can be personal data"},
	{env: "SHUTDOWN_TIMEOUT", def: "20s", help: "drain deadline on SIGTERM"},
	{env: "CACHE_SIZE", def: "10000", help: "accounts whose tokens are kept in memory (least recently used go first)"},
	{env: "BODY_READ_TIMEOUT", def: "30s", help: "a request body must arrive within this, else 408 PROXY_BODY_TIMEOUT"},
	{env: "MAX_REPLAY_MEMORY", def: "64MiB", help: "process-wide cap on request bytes held for replay; past it bodies stream"},
	{env: "UPSTREAM_IDLE_TIMEOUT", def: "60s", help: "an answer from Spotify that sends no bytes for this long is cut"},
	{env: "ALLOWED_HOSTS", help: "comma-separated Host names the proxy answers; default localhost, 127.0.0.1, [::1], the LISTEN_ADDR and PUBLIC_URL hosts; * allows any"},
	{env: "PUBLIC_URL", help: "the proxy's base URL as callers reach it (rewritten paging URLs); default http:// + the request's Host"},
	{env: "REWRITE_RESPONSE_URLS", def: "true", help: "rewrite Spotify's absolute /v1/ URLs in JSON answers to point at the proxy"},
	{env: "UNAUTHORIZED_REFRESH_INTERVAL", def: "5s", help: "per-account floor between refreshes caused by 401s"},
	{env: "TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT", def: "false", help: "with TOKEN_ENCRYPTION_KEY: read plaintext records and seal them on their next write (migration)"},
	{env: "PUBLIC_ADMIN_URL", help: "the admin listener's public base URL; https makes the session cookie Secure"},
	{env: "ADMIN_SESSION_TTL", def: "12h", help: "how long an admin browser session lasts"},
	{env: "PPROF", def: "false", help: "serve Go's profiles (net/http/pprof) on the admin listener under /debug/pprof/, behind ADMIN_TOKEN"},
	{env: "WEBHOOK_URL", help: "account events are POSTed here (Standard Webhooks); empty: only GET /admin/v1/events", secret: true},
	{env: "WEBHOOK_SECRET", help: "webhook signing secret, whsec_<base64 of 24-64 random bytes> (required with WEBHOOK_URL)", secret: true},
	{env: "WEBHOOK_SECRET_FILE", help: "file holding WEBHOOK_SECRET (mounted secrets)"},
	{env: "WEBHOOK_RETRY_FOR", def: "24h", help: "a failing webhook delivery is retried this long after the event, then dropped"},
	{env: "EXPIRY_WARNING", def: "336h", help: "account.refresh_token_expiring is sent this long before the refresh token's lifetime ends"},
	{env: "REFRESH_TOKEN_LIFETIME", def: "4380h", help: "refresh token lifetime from authorisation (Spotify: six months); refreshing does not extend it; 0: none"},
	{env: "RATE_LIMIT", help: "shared budget of calls to Spotify for all replicas, calls/period (e.g. 150/30s); empty: none"},
	{env: "RATE_LIMIT_PER_ACCOUNT", help: "each account's share of calls/period (e.g. 50/30s); empty: none"},
	{env: "RATE_LIMIT_MAX_WAIT", def: "0s", help: "a request waits up to this for a rate-limit block or budget slot; longer ones get 429 at once"},
	{env: "UPSTREAM_RETRIES", def: "2", help: "retries of a GET or HEAD after 502, 503, 504 or no answer (within a 10% retry budget)"},
}

// FlagName is the kebab-case flag of an environment variable.
func FlagName(env string) string { return strings.ReplaceAll(strings.ToLower(env), "_", "-") }

// ErrHelp is returned by Load when --help was asked for (usage already printed).
var ErrHelp = flag.ErrHelp

// Error is a configuration error naming the variable.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

// Load parses args (without the program name) and the environment. Usage and flag
// errors go to out.
func Load(args []string, getenv func(string) string, out io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("spotify-token-proxy", flag.ContinueOnError)
	fs.SetOutput(out)
	vals := make(map[string]*string, len(settings))
	for _, s := range settings {
		vals[s.env] = fs.String(FlagName(s.env), "", s.help)
	}
	fs.Usage = func() { usage(out) }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, &Error{Var: "arguments", Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	get := func(env string) string {
		if set[FlagName(env)] {
			return *vals[env]
		}
		if v := getenv(env); v != "" {
			return v
		}
		for _, s := range settings {
			if s.env == env {
				return s.def
			}
		}
		return ""
	}
	return parse(get)
}

func usage(out io.Writer) {
	fmt.Fprintln(out, "spotify-token-proxy: a reverse proxy for the Spotify Web API that attaches fresh OAuth tokens.")
	fmt.Fprintln(out, "\nEvery setting is an environment variable and a flag; the flag wins.")
	fmt.Fprintln(out, "\nUsage: spotify-token-proxy [flags]")
	fmt.Fprintln(out)
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(out, "  --%-28s %-28s default %s\n      %s\n", FlagName(s.env), s.env, def, s.help)
	}
}

func parse(get func(string) string) (*Config, error) {
	c := &Config{}
	var err error
	c.ClientID = get("SPOTIFY_CLIENT_ID")
	if c.ClientID == "" {
		return nil, &Error{"SPOTIFY_CLIENT_ID", "required (the client id of your Spotify app; try `make demo` to run without one)"}
	}
	if c.ClientSecret, err = secretValue(get, "SPOTIFY_CLIENT_SECRET", "SPOTIFY_CLIENT_SECRET_FILE"); err != nil {
		return nil, err
	}
	if c.ClientSecret == "" {
		return nil, &Error{"SPOTIFY_CLIENT_SECRET", "required (or SPOTIFY_CLIENT_SECRET_FILE)"}
	}
	c.RefreshToken = get("SPOTIFY_REFRESH_TOKEN")
	if c.APIURL, err = baseURL(get, "SPOTIFY_API_URL"); err != nil {
		return nil, err
	}
	if c.AccountsURL, err = baseURL(get, "SPOTIFY_ACCOUNTS_URL"); err != nil {
		return nil, err
	}
	if c.ListenAddr, err = hostPort(get, "LISTEN_ADDR"); err != nil {
		return nil, err
	}
	if c.AdminAddr, err = hostPort(get, "ADMIN_ADDR"); err != nil {
		return nil, err
	}
	if c.AdminToken, err = secretValue(get, "ADMIN_TOKEN", "ADMIN_TOKEN_FILE"); err != nil {
		return nil, err
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		return nil, &Error{"ADMIN_TOKEN", "too short: use at least 16 characters"}
	}
	c.ProxyAuthToken = get("PROXY_AUTH_TOKEN")
	c.RedisURL = get("REDIS_URL")
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") || (u.Host == "" && u.Scheme != "unix") {
			return nil, &Error{"REDIS_URL", "must be a redis://, rediss:// or unix:// URL"}
		}
	}
	if v := get("REDIS_ADDRS"); v != "" {
		for _, a := range strings.Split(v, ",") {
			a = strings.TrimSpace(a)
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, &Error{"REDIS_ADDRS", fmt.Sprintf("%q is not host:port", a)}
			}
			c.RedisAddrs = append(c.RedisAddrs, a)
		}
	}
	if c.RedisURL != "" && len(c.RedisAddrs) > 0 {
		return nil, &Error{"REDIS_ADDRS", "set either REDIS_URL or REDIS_ADDRS, not both"}
	}
	c.RedisMasterName = get("REDIS_MASTER_NAME")
	if c.RedisMasterName != "" && len(c.RedisAddrs) == 0 {
		return nil, &Error{"REDIS_MASTER_NAME", "needs REDIS_ADDRS (the Sentinel addresses)"}
	}
	c.RedisUsername, c.RedisPassword = get("REDIS_USERNAME"), get("REDIS_PASSWORD")
	if c.UsesRedis() {
		if err := c.RedisOptions().Validate(); err != nil {
			return nil, redisSettingError(err)
		}
	}
	c.TokenFile = get("TOKEN_FILE")
	if c.TokenFile == "" {
		return nil, &Error{"TOKEN_FILE", "must not be empty"}
	}
	if k := get("TOKEN_ENCRYPTION_KEY"); k != "" {
		keys, err := tokenstore.ParseKeys(k)
		if err != nil {
			return nil, &Error{"TOKEN_ENCRYPTION_KEY", "must be base64 of 32 random bytes (e.g. `openssl rand -base64 32`)"}
		}
		c.EncryptionKeys = keys
		if old := get("TOKEN_ENCRYPTION_OLD_KEYS"); old != "" {
			keys, err := tokenstore.ParseKeys(strings.Split(old, ",")...)
			if err != nil {
				return nil, &Error{"TOKEN_ENCRYPTION_OLD_KEYS", err.Error()}
			}
			c.EncryptionKeys = append(c.EncryptionKeys, keys...)
		}
	} else if get("TOKEN_ENCRYPTION_OLD_KEYS") != "" {
		return nil, &Error{"TOKEN_ENCRYPTION_OLD_KEYS", "needs TOKEN_ENCRYPTION_KEY"}
	}
	c.KeyPrefix = get("KEY_PREFIX")
	for _, v := range []struct {
		name string
		dst  *string
	}{{"DEFAULT_ACCOUNT", &c.DefaultAccount}, {"APP_ACCOUNT", &c.AppAccount}} {
		*v.dst = get(v.name)
		if !tokenstore.ValidAccount(*v.dst) {
			return nil, &Error{v.name, fmt.Sprintf("%q is not a valid account id (^[A-Za-z0-9._@-]{1,128}$)", *v.dst)}
		}
	}
	if c.DefaultAccount == c.AppAccount {
		return nil, &Error{"APP_ACCOUNT", "must differ from DEFAULT_ACCOUNT"}
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
		min  time.Duration
	}{
		{"REFRESH_AHEAD", &c.RefreshAhead, 0},
		{"LOCK_TTL", &c.LockTTL, 100 * time.Millisecond},
		{"UPSTREAM_TIMEOUT", &c.UpstreamTimeout, time.Millisecond},
		{"SHUTDOWN_TIMEOUT", &c.ShutdownTimeout, 0},
		{"BODY_READ_TIMEOUT", &c.BodyReadTimeout, time.Millisecond},
		{"UPSTREAM_IDLE_TIMEOUT", &c.UpstreamIdleTimeout, time.Millisecond},
		{"UNAUTHORIZED_REFRESH_INTERVAL", &c.UnauthorizedRefreshInterval, 0},
		{"ADMIN_SESSION_TTL", &c.AdminSessionTTL, time.Minute},
	} {
		v := get(d.name)
		x, err := time.ParseDuration(v)
		if err != nil {
			return nil, &Error{d.name, fmt.Sprintf("%q is not a duration (e.g. 30s, 5m)", v)}
		}
		if x < d.min {
			return nil, &Error{d.name, fmt.Sprintf("%s is too small (minimum %s)", v, d.min)}
		}
		*d.dst = x
	}
	if c.MaxReplayBody, err = ParseSize(get("MAX_REPLAY_BODY")); err != nil {
		return nil, &Error{"MAX_REPLAY_BODY", err.Error()}
	}
	if c.MaxReplayMemory, err = ParseSize(get("MAX_REPLAY_MEMORY")); err != nil {
		return nil, &Error{"MAX_REPLAY_MEMORY", err.Error()}
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"REWRITE_RESPONSE_URLS", &c.RewriteResponseURLs}, {"TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT", &c.AcceptPlaintext}, {"PPROF", &c.Pprof}, {"TRACE_ACCOUNT_IDS", &c.TraceAccountIDs}} {
		v := get(b.name)
		x, err := strconv.ParseBool(v)
		if err != nil {
			return nil, &Error{b.name, fmt.Sprintf("%q: want true or false", v)}
		}
		*b.dst = x
	}
	if c.AcceptPlaintext && len(c.EncryptionKeys) == 0 {
		return nil, &Error{"TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT", "only means something with TOKEN_ENCRYPTION_KEY"}
	}
	if c.Pprof && c.AdminToken == "" {
		return nil, &Error{"PPROF", "needs ADMIN_TOKEN (the profiles are served only behind it)"}
	}
	if v := get("PUBLIC_URL"); v != "" {
		if c.PublicURL, err = baseURL(get, "PUBLIC_URL"); err != nil {
			return nil, err
		}
	}
	if v := get("PUBLIC_ADMIN_URL"); v != "" {
		if c.PublicAdminURL, err = baseURL(get, "PUBLIC_ADMIN_URL"); err != nil {
			return nil, err
		}
	}
	if c.AllowedHosts, err = allowedHosts(get("ALLOWED_HOSTS"), c.ListenAddr, c.PublicURL); err != nil {
		return nil, err
	}
	c.AuthRedirectURL = get("AUTH_REDIRECT_URL")
	if c.AuthRedirectURL != "" {
		u, err := url.Parse(c.AuthRedirectURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, &Error{"AUTH_REDIRECT_URL", "must be an absolute http(s) URL, e.g. http://127.0.0.1:9090/auth/callback"}
		}
		if c.AdminToken == "" {
			return nil, &Error{"AUTH_REDIRECT_URL", "the login flow needs ADMIN_TOKEN (it guards /auth/login)"}
		}
	}
	c.AuthScopes = get("AUTH_SCOPES")
	c.LogLevel = strings.ToLower(get("LOG_LEVEL"))
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return nil, &Error{"LOG_LEVEL", fmt.Sprintf("%q: want debug, info, warn or error", c.LogLevel)}
	}
	c.LogFormat = strings.ToLower(get("LOG_FORMAT"))
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return nil, &Error{"LOG_FORMAT", fmt.Sprintf("%q: want json or text", c.LogFormat)}
	}
	n, err := strconv.Atoi(get("CACHE_SIZE"))
	if err != nil || n < 1 {
		return nil, &Error{"CACHE_SIZE", "must be a positive integer"}
	}
	c.CacheSize = n
	if err := parseEvents(c, get); err != nil {
		return nil, err
	}
	if err := parseRateLimits(get, c); err != nil {
		return nil, err
	}
	return c, nil
}

// allowedHosts parses ALLOWED_HOSTS, or builds its default: the loopback names, the
// host of LISTEN_ADDR when it is a name or a specific address, and PUBLIC_URL's host.
func allowedHosts(v, listenAddr string, public *url.URL) ([]string, error) {
	var hosts []string
	add := func(h string) {
		h = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
		for _, x := range hosts {
			if x == h {
				return
			}
		}
		hosts = append(hosts, h)
	}
	if v = strings.TrimSpace(v); v != "" {
		for _, h := range strings.Split(v, ",") {
			h = strings.TrimSpace(h)
			if h == "*" {
				return nil, nil
			}
			if h == "" || strings.ContainsAny(h, "/ @?#") {
				return nil, &Error{"ALLOWED_HOSTS", fmt.Sprintf("%q is not a host name (comma-separated names, or *)", h)}
			}
			if host, _, err := net.SplitHostPort(h); err == nil {
				h = host // a port is ignored: the check is on the name
			}
			add(h)
		}
		return hosts, nil
	}
	add("localhost")
	add("127.0.0.1")
	add("::1")
	if host, _, err := net.SplitHostPort(listenAddr); err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			add(host)
		}
	}
	if public != nil {
		add(public.Hostname())
	}
	return hosts, nil
}

func secretValue(get func(string) string, name, fileVar string) (string, error) {
	v := get(name)
	path := get(fileVar)
	if path == "" {
		return v, nil
	}
	if v != "" {
		return "", &Error{fileVar, "set either " + name + " or " + fileVar + ", not both"}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", &Error{fileVar, fmt.Sprintf("cannot read %s: %v", path, err)}
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", &Error{fileVar, path + " is empty"}
	}
	return s, nil
}

func baseURL(get func(string) string, name string) (*url.URL, error) {
	v := get(name)
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, &Error{name, fmt.Sprintf("%q is not an absolute http(s) URL", v)}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func hostPort(get func(string) string, name string) (string, error) {
	v := get(name)
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", &Error{name, fmt.Sprintf("%q is not host:port", v)}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", &Error{name, fmt.Sprintf("%q has a bad port", v)}
	}
	return v, nil
}

// ParseSize parses "1MiB", "512KiB", "1MB", "1048576".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size (e.g. 1MiB, 512KiB, 1048576)", s)
	}
	return n * mult, nil
}
