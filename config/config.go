// Package config turns the environment and the command line into a validated Config.
// Every setting is an environment variable and a kebab-case flag; the flag wins.
// Config is plain data: parsing and checking happen once, in Load.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
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

	// Background validation (config/validate.go).
	ValidateEvery time.Duration   // refresh accounts not refreshed for this long; 0: off
	ValidateRate  ratelimit.Limit // at most this many validation refreshes per period, evenly spaced
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
	{env: "VALIDATE_EVERY", help: "refresh in the background each account whose refresh token has not been used for this long (e.g. 24h), so revoked access turns reauth_required before a request finds out; empty: off"},
	{env: "VALIDATE_RATE", def: "1/s", help: "at most this many validation refreshes per period, evenly spaced, calls/period (e.g. 1/s, 30/m)"},
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
