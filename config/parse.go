package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/tokenstore"
)

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
	// Spaces, tabs and newlines (a YAML block) between scopes are one space, as
	// Spotify's authorize URL wants them; anything but scope-token characters is refused.
	c.AuthScopes = strings.Join(strings.Fields(get("AUTH_SCOPES")), " ")
	for _, r := range c.AuthScopes {
		if r != ' ' && (r < 0x21 || r > 0x7e || r == '"' || r == '\\') {
			return nil, &Error{"AUTH_SCOPES", "must be scope names separated by spaces, e.g. user-read-private user-read-email"}
		}
	}
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
	if err := parseValidation(c, get); err != nil {
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
