package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func base() map[string]string {
	return map[string]string{"SPOTIFY_CLIENT_ID": "id", "SPOTIFY_CLIENT_SECRET": "secret"}
}

func TestDefaults(t *testing.T) {
	c, err := Load(nil, env(base()), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.APIURL.String() != "https://api.spotify.com" || c.AccountsURL.String() != "https://accounts.spotify.com" ||
		c.ListenAddr != "127.0.0.1:8080" || c.AdminAddr != "127.0.0.1:9090" || c.TokenFile != "./data/tokens.json" ||
		c.KeyPrefix != "spotify-token-proxy:" || c.DefaultAccount != "default" || c.AppAccount != "app" ||
		c.RefreshAhead != 5*time.Minute || c.LockTTL != 10*time.Second || c.UpstreamTimeout != 30*time.Second ||
		c.MaxReplayBody != 1<<20 || c.LogLevel != "info" || c.LogFormat != "json" || c.UsesRedis() {
		t.Fatalf("defaults differ from the README: %+v", c)
	}
}

func TestFlagWinsOverEnv(t *testing.T) {
	e := base()
	e["REFRESH_AHEAD"] = "1m"
	c, err := Load([]string{"--refresh-ahead", "2m", "--spotify-api-url=http://127.0.0.1:1/"}, env(e), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.RefreshAhead != 2*time.Minute || c.APIURL.String() != "http://127.0.0.1:1" {
		t.Fatalf("flag did not win: %v %v", c.RefreshAhead, c.APIURL)
	}
}

// AUTH_SCOPES written as a YAML block (newlines, a trailing one) is the same
// space-separated list Spotify's authorize URL wants.
func TestAuthScopesWhitespace(t *testing.T) {
	e := base()
	e["AUTH_SCOPES"] = "user-read-private\n  streaming\tuser-read-email\n"
	c, err := Load(nil, env(e), &bytes.Buffer{})
	if err != nil || c.AuthScopes != "user-read-private streaming user-read-email" {
		t.Fatalf("AUTH_SCOPES = %q, %v", c.AuthScopes, err)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	for _, tc := range []struct{ k, v string }{
		{"SPOTIFY_CLIENT_ID", ""},
		{"SPOTIFY_CLIENT_SECRET", ""},
		{"SPOTIFY_API_URL", "api.spotify.com"},
		{"SPOTIFY_ACCOUNTS_URL", "ftp://x"},
		{"LISTEN_ADDR", "8080"},
		{"ADMIN_ADDR", "localhost:99999"},
		{"REDIS_URL", "http://redis:6379"},
		{"REDIS_ADDRS", "redis-without-port"},
		{"REDIS_MASTER_NAME", "mymaster"},
		{"TOKEN_ENCRYPTION_KEY", "c2hvcnQ="},
		{"DEFAULT_ACCOUNT", "bad account"},
		{"APP_ACCOUNT", "default"},
		{"REFRESH_AHEAD", "5 minutes"},
		{"LOCK_TTL", "1ms"},
		{"UPSTREAM_TIMEOUT", "-1s"},
		{"MAX_REPLAY_BODY", "1 lot"},
		{"AUTH_REDIRECT_URL", "/auth/callback"},
		{"LOG_LEVEL", "loud"},
		{"LOG_FORMAT", "xml"},
		{"ADMIN_TOKEN", "short"},
		{"CACHE_SIZE", "0"},
		{"AUTH_SCOPES", "user-read-private \"streaming\""},
	} {
		t.Run(tc.k, func(t *testing.T) {
			e := base()
			e[tc.k] = tc.v
			_, err := Load(nil, env(e), &bytes.Buffer{})
			var ce *Error
			if !errors.As(err, &ce) || ce.Var != tc.k {
				t.Fatalf("err = %v, want an error naming %s", err, tc.k)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatal("error is more than one line")
			}
		})
	}
}

func TestSecretsFromFilesAndNeverInErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secret")
	os.WriteFile(p, []byte("file-secret-value\n"), 0o600)
	e := map[string]string{"SPOTIFY_CLIENT_ID": "id", "SPOTIFY_CLIENT_SECRET_FILE": p}
	c, err := Load(nil, env(e), &bytes.Buffer{})
	if err != nil || c.ClientSecret != "file-secret-value" {
		t.Fatalf("secret file: %v", err)
	}
	e["TOKEN_ENCRYPTION_KEY"] = "not-base64-but-secret!!"
	_, err = Load(nil, env(e), &bytes.Buffer{})
	if err == nil || strings.Contains(err.Error(), "not-base64-but-secret") {
		t.Fatalf("key error leaks the value: %v", err)
	}
	e2 := base()
	e2["SPOTIFY_CLIENT_SECRET_FILE"] = p
	if _, err := Load(nil, env(e2), &bytes.Buffer{}); err == nil {
		t.Fatal("both secret and secret file accepted")
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	var out bytes.Buffer
	_, err := Load([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, s := range settings {
		if !strings.Contains(out.String(), "--"+FlagName(s.env)) || !strings.Contains(out.String(), s.env) {
			t.Fatalf("--help lacks %s", s.env)
		}
	}
	if !strings.Contains(out.String(), "https://api.spotify.com") {
		t.Fatal("--help lacks defaults")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1MiB": 1 << 20, "512KiB": 512 << 10, "1MB": 1e6, "100": 100, "0": 0, "2 MiB": 2 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Fatalf("%s: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "1TB", "x"} {
		if _, err := ParseSize(in); err == nil {
			t.Fatalf("%q accepted", in)
		}
	}
}

func TestHardeningSettings(t *testing.T) {
	c, err := Load(nil, env(base()), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.BodyReadTimeout != 30*time.Second || c.MaxReplayMemory != 64<<20 || c.UpstreamIdleTimeout != time.Minute ||
		!c.RewriteResponseURLs || c.UnauthorizedRefreshInterval != 5*time.Second || c.AcceptPlaintext ||
		c.PublicURL != nil || c.PublicAdminURL != nil || c.AdminSessionTTL != 12*time.Hour || c.Pprof {
		t.Fatalf("hardening defaults: %+v", c)
	}
	if got := strings.Join(c.AllowedHosts, ","); got != "localhost,127.0.0.1,::1" {
		t.Fatalf("default ALLOWED_HOSTS with LISTEN_ADDR 127.0.0.1:8080 = %q", got)
	}

	e := base()
	e["LISTEN_ADDR"] = "spotify-proxy.internal:8080"
	e["PUBLIC_URL"] = "http://Proxy.Example:8080/"
	if c, err = Load(nil, env(e), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.AllowedHosts, ","); got != "localhost,127.0.0.1,::1,spotify-proxy.internal,proxy.example" {
		t.Fatalf("ALLOWED_HOSTS from LISTEN_ADDR and PUBLIC_URL = %q", got)
	}
	if c.PublicURL.String() != "http://Proxy.Example:8080" {
		t.Fatalf("PUBLIC_URL = %v", c.PublicURL)
	}

	e = base()
	e["LISTEN_ADDR"] = "0.0.0.0:8080"
	if c, err = Load(nil, env(e), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.AllowedHosts, ","); got != "localhost,127.0.0.1,::1" {
		t.Fatalf("a wildcard LISTEN_ADDR must not add a host: %q", got)
	}

	e = base()
	e["ALLOWED_HOSTS"] = "a.svc, B.svc.cluster.local:8080 ,[fd00::1]"
	if c, err = Load(nil, env(e), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.AllowedHosts, ","); got != "a.svc,b.svc.cluster.local,fd00::1" {
		t.Fatalf("ALLOWED_HOSTS list = %q", got)
	}
	e["ALLOWED_HOSTS"] = "*"
	if c, err = Load(nil, env(e), &bytes.Buffer{}); err != nil || c.AllowedHosts != nil {
		t.Fatalf("ALLOWED_HOSTS=* must turn the check off: %v %v", c.AllowedHosts, err)
	}

	for _, tc := range []struct{ k, v string }{
		{"BODY_READ_TIMEOUT", "soon"},
		{"MAX_REPLAY_MEMORY", "lots"},
		{"UPSTREAM_IDLE_TIMEOUT", "0s"},
		{"ALLOWED_HOSTS", "http://x/"},
		{"PUBLIC_URL", "proxy:8080"},
		{"PUBLIC_ADMIN_URL", "ftp://admin"},
		{"REWRITE_RESPONSE_URLS", "maybe"},
		{"UNAUTHORIZED_REFRESH_INTERVAL", "-1s"},
		{"TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT", "true"}, // without a key
		{"ADMIN_SESSION_TTL", "1s"},
		{"PPROF", "yes"},
		{"PPROF", "true"}, // without ADMIN_TOKEN
		{"REFRESH_TOKEN_LIFETIME", "six months"},
		{"REFRESH_TOKEN_LIFETIME", "-1h"},
	} {
		e := base()
		e[tc.k] = tc.v
		_, err := Load(nil, env(e), &bytes.Buffer{})
		var ce *Error
		if !errors.As(err, &ce) || ce.Var != tc.k {
			t.Errorf("%s=%q: got %v, want an error naming %s", tc.k, tc.v, err, tc.k)
		}
	}
}

func TestPprof(t *testing.T) {
	e := base()
	e["ADMIN_TOKEN"] = "0123456789abcdef-admin"
	e["PPROF"] = "true"
	c, err := Load(nil, env(e), &bytes.Buffer{})
	if err != nil || !c.Pprof {
		t.Fatalf("PPROF=true: %+v, %v", c, err)
	}
	e["PPROF"] = "false"
	if c, err = Load([]string{"--pprof=true"}, env(e), &bytes.Buffer{}); err != nil || !c.Pprof {
		t.Fatalf("--pprof=true over PPROF=false: %+v, %v", c, err)
	}
	if c, err = Load(nil, env(e), &bytes.Buffer{}); err != nil || c.Pprof {
		t.Fatalf("PPROF=false: %+v, %v", c, err)
	}
}

// TestRedisSettingsValidatedHere: the Redis settings are checked when the
// configuration loads, by the same rules the client is built with, and the error
// names the setting without quoting a password.
func TestRedisSettingsValidatedHere(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"scheme", map[string]string{"REDIS_URL": "http://u:hunter2@h:1"}, "REDIS_URL"},
		{"port", map[string]string{"REDIS_URL": "redis://u:hunter2@h:notaport"}, "REDIS_URL"},
		{"db", map[string]string{"REDIS_URL": "redis://u:hunter2@h:1/x"}, "REDIS_URL"},
		{"query", map[string]string{"REDIS_URL": "redis://u:hunter2@h:1?pool_size=lots"}, "REDIS_URL"},
		{"both", map[string]string{"REDIS_URL": "redis://h:1", "REDIS_ADDRS": "h:1"}, "REDIS_ADDRS"},
		{"addr", map[string]string{"REDIS_ADDRS": "no-port"}, "REDIS_ADDRS"},
		{"master without addrs", map[string]string{"REDIS_MASTER_NAME": "m"}, "REDIS_MASTER_NAME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := base()
			for k, v := range tc.env {
				e[k] = v
			}
			_, err := Load(nil, env(e), &bytes.Buffer{})
			var ce *Error
			if !errors.As(err, &ce) || ce.Var != tc.want || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("err = %v, want one naming %s without the password", err, tc.want)
			}
		})
	}
	for _, ok := range []map[string]string{
		{"REDIS_URL": "rediss://u:pw@redis.example:6380/2?read_timeout=3s"},
		{"REDIS_ADDRS": "10.0.0.1:26379,10.0.0.2:26379", "REDIS_MASTER_NAME": "mymaster"},
		{"REDIS_ADDRS": "10.0.0.1:7000,10.0.0.2:7000"},
	} {
		e := base()
		for k, v := range ok {
			e[k] = v
		}
		c, err := Load(nil, env(e), &bytes.Buffer{})
		if err != nil || c.RedisOptions().Validate() != nil {
			t.Fatalf("%v: %v", ok, err)
		}
	}
}

func TestEffectiveRedactsSecrets(t *testing.T) {
	env := map[string]string{"SPOTIFY_CLIENT_SECRET": "top-secret", "REDIS_URL": "redis://:pw@h:6379", "LISTEN_ADDR": "0.0.0.0:8080"}
	got := map[string]Value{}
	for _, v := range Effective(func(k string) string { return env[k] }) {
		got[v.Var] = v
	}
	if got["SPOTIFY_CLIENT_SECRET"].Value != Redacted || got["REDIS_URL"].Value != Redacted {
		t.Fatalf("secrets shown: %+v %+v", got["SPOTIFY_CLIENT_SECRET"], got["REDIS_URL"])
	}
	if v := got["LISTEN_ADDR"]; v.Value != "0.0.0.0:8080" || !v.FromEnv {
		t.Fatalf("LISTEN_ADDR %+v", v)
	}
	if v := got["REFRESH_AHEAD"]; v.Value != "5m" || v.FromEnv {
		t.Fatalf("default REFRESH_AHEAD %+v", v)
	}
	if v := got["ADMIN_TOKEN"]; v.Value != "" {
		t.Fatalf("unset secret %+v", v)
	}
	if len(got) != len(settings) {
		t.Fatalf("%d settings, want %d", len(got), len(settings))
	}
}

// REFRESH_TOKEN_LIFETIME defaults to six months (4380h), takes a duration and 0
// (no limit), and the flag wins over the environment.
func TestRefreshTokenLifetime(t *testing.T) {
	c, err := Load(nil, env(base()), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.RefreshTokenLifetime != 4380*time.Hour {
		t.Fatalf("default REFRESH_TOKEN_LIFETIME %v, want 4380h", c.RefreshTokenLifetime)
	}
	for v, want := range map[string]time.Duration{"0": 0, "0s": 0, "2160h": 2160 * time.Hour} {
		e := base()
		e["REFRESH_TOKEN_LIFETIME"] = v
		c, err := Load(nil, env(e), &bytes.Buffer{})
		if err != nil {
			t.Fatalf("REFRESH_TOKEN_LIFETIME=%s: %v", v, err)
		}
		if c.RefreshTokenLifetime != want {
			t.Fatalf("REFRESH_TOKEN_LIFETIME=%s: %v, want %v", v, c.RefreshTokenLifetime, want)
		}
	}
	c, err = Load([]string{"--refresh-token-lifetime=400h"}, env(base()), &bytes.Buffer{})
	if err != nil || c.RefreshTokenLifetime != 400*time.Hour {
		t.Fatalf("--refresh-token-lifetime=400h: %v %v", c, err)
	}
}
