package tokenstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions selects and authenticates the Redis deployment. Exactly one of URL
// and Addrs is set.
type RedisOptions struct {
	// URL is redis://[user:password@]host:port[/db], rediss:// for TLS, or unix://.
	// Query parameters of go-redis (dial_timeout, pool_size, …) are honoured.
	URL string
	// Addrs: with MasterName, the Sentinel addresses; otherwise several addresses
	// mean a Cluster, one address a single server.
	Addrs      []string
	MasterName string
	// Username and Password, when set, override those of the URL. They are not
	// sent to Sentinels (which usually have no password).
	Username, Password string
}

// RedisOptionError is a RedisOptions field that is missing, malformed or in
// conflict with another. Its message never quotes a password; Field lets the caller
// name the setting it came from.
type RedisOptionError struct {
	Field  string // "URL", "Addrs" or "MasterName"
	Reason string
}

func (e *RedisOptionError) Error() string {
	return "tokenstore: redis option " + e.Field + ": " + e.Reason
}

// Timeouts of the Redis client. The proxy makes no Redis call on the request path
// (tokens are cached in process), so go-redis's default pool (10 × GOMAXPROCS
// connections) is ample; these bound how long a refresh waits for a sick Redis.
const (
	redisDialTimeout  = 2 * time.Second
	redisReadTimeout  = time.Second
	redisWriteTimeout = time.Second
)

// redisBufferSize is each connection's read and write buffer for Addrs deployments.
// Records are about 1 KB; go-redis's default of 32 KiB each way costs 64 KiB per
// pooled connection.
const redisBufferSize = 4 << 10

// Validate reports the first field of o that is missing, malformed or in conflict,
// as a *RedisOptionError; nil when NewRedisClient can build a client.
func (o RedisOptions) Validate() error {
	_, err := o.universal()
	return err
}

// NewRedisClient builds the client the options describe, with one
// redis.NewUniversalClient call: a URL gives a single server, Addrs with MasterName
// a Sentinel failover client, several Addrs a Cluster client, one Addr a single
// server. Errors are *RedisOptionError.
func NewRedisClient(o RedisOptions) (redis.UniversalClient, error) {
	u, err := o.universal()
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(u), nil
}

// universal turns o into go-redis's universal options.
func (o RedisOptions) universal() (*redis.UniversalOptions, error) {
	switch {
	case o.URL != "" && len(o.Addrs) > 0:
		return nil, &RedisOptionError{"Addrs", "set either a URL or addresses, not both"}
	case o.URL != "":
		if o.MasterName != "" {
			return nil, &RedisOptionError{"MasterName", "needs addresses (the Sentinels), not a URL"}
		}
		return o.fromURL()
	case len(o.Addrs) == 0 && o.MasterName != "":
		return nil, &RedisOptionError{"MasterName", "needs addresses (the Sentinels)"}
	case len(o.Addrs) == 0:
		return nil, &RedisOptionError{"URL", "a URL or addresses must be set to use Redis"}
	}
	for _, a := range o.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, &RedisOptionError{"Addrs", fmt.Sprintf("%q is not host:port", a)}
		}
	}
	return &redis.UniversalOptions{
		Addrs: o.Addrs, MasterName: o.MasterName, Username: o.Username, Password: o.Password,
		DialTimeout: redisDialTimeout, ReadTimeout: redisReadTimeout, WriteTimeout: redisWriteTimeout,
		ContextTimeoutEnabled: true,
		ReadBufferSize:        redisBufferSize, WriteBufferSize: redisBufferSize,
	}, nil
}

// fromURL: the URL's server, credentials, database, TLS and go-redis query
// parameters, with the overriding credentials and default timeouts.
func (o RedisOptions) fromURL() (*redis.UniversalOptions, error) {
	opt, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, &RedisOptionError{"URL", "malformed: " + urlErrText(err)}
	}
	if o.Username != "" {
		opt.Username = o.Username
	}
	if o.Password != "" {
		opt.Password = o.Password
	}
	u := &redis.UniversalOptions{
		Addrs: []string{opt.Addr}, ClientName: opt.ClientName, DB: opt.DB, Protocol: opt.Protocol,
		Username: opt.Username, Password: opt.Password, TLSConfig: opt.TLSConfig,
		MaxRetries: opt.MaxRetries, MinRetryBackoff: opt.MinRetryBackoff, MaxRetryBackoff: opt.MaxRetryBackoff,
		DialTimeout: opt.DialTimeout, ReadTimeout: opt.ReadTimeout, WriteTimeout: opt.WriteTimeout,
		ContextTimeoutEnabled: true,
		PoolFIFO:              opt.PoolFIFO, PoolSize: opt.PoolSize, PoolTimeout: opt.PoolTimeout,
		MinIdleConns: opt.MinIdleConns, MaxIdleConns: opt.MaxIdleConns, MaxActiveConns: opt.MaxActiveConns,
		MaxConcurrentDials: opt.MaxConcurrentDials,
		ConnMaxIdleTime:    opt.ConnMaxIdleTime, ConnMaxLifetime: opt.ConnMaxLifetime, ConnMaxLifetimeJitter: opt.ConnMaxLifetimeJitter,
		PipelinePoolSize: opt.PipelinePoolSize, PipelineReadBufferSize: opt.PipelineReadBufferSize,
		PipelineWriteBufferSize: opt.PipelineWriteBufferSize,
		ReadBufferSize:          opt.ReadBufferSize, WriteBufferSize: opt.WriteBufferSize,
	}
	if opt.Network == "unix" {
		// The universal options have no network: a unix socket is dialled explicitly.
		u.Dialer = func(ctx context.Context, _, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		}
	}
	if u.DialTimeout == 0 {
		u.DialTimeout = redisDialTimeout
	}
	if u.ReadTimeout == 0 {
		u.ReadTimeout = redisReadTimeout
	}
	if u.WriteTimeout == 0 {
		u.WriteTimeout = redisWriteTimeout
	}
	return u, nil
}

// urlErrText describes a URL parse error without the URL, which may hold a password.
func urlErrText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return strings.TrimPrefix(err.Error(), "redis: ")
}
