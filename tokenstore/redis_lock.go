package tokenstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bsm/redislock"
	"github.com/redis/go-redis/v9"
)

// RedisLockerOptions configures a RedisLocker.
type RedisLockerOptions struct {
	// TTL of the lock (default 10s). It bounds how long a crashed holder blocks the
	// account; a live holder extends it every TTL/3.
	TTL time.Duration
	// Wait bounds how long Lock waits for a lock another replica holds (default
	// LockWaitFor(TTL), 3×TTL). A live holder keeps the lock as long as its token
	// call runs, so a Wait shorter than the slowest token call makes waiters give up
	// (lock_timeout) and, once the current token has expired, fail instead of taking
	// the holder's fresh token. The Source's RefreshTimeout bounds the wait as well
	// (RefreshTimeoutFor includes it).
	Wait time.Duration

	// pauseExtension, set by tests (export_test.go): while it returns true for an
	// account, that account's leases are not extended, as if the holder were paused.
	pauseExtension func(account string) bool
}

// Lock polling: first retry after lockRetryMin, growing to lockRetryMax.
const (
	lockRetryMin = 10 * time.Millisecond
	lockRetryMax = 100 * time.Millisecond
)

// RedisLocker is the per-account refresh lock shared by every replica, on Redis
// with bsm/redislock (SET NX PX; extension and release check the holder's token).
// It is safe for concurrent use.
type RedisLocker struct {
	client *redislock.Client
	keys   redisKeys
	opts   RedisLockerOptions
	clk    clock // real time: Redis expires the lock in real time
}

// NewRedisLocker returns a locker with keys under prefix (empty: DefaultKeyPrefix).
func NewRedisLocker(client redis.UniversalClient, prefix string, opts RedisLockerOptions) *RedisLocker {
	if opts.TTL <= 0 {
		opts.TTL = 10 * time.Second
	}
	if opts.Wait <= 0 {
		opts.Wait = LockWaitFor(opts.TTL)
	}
	return &RedisLocker{client: redislock.New(client), keys: newRedisKeys(prefix), opts: opts, clk: newClock(nil)}
}

// Lock implements Locker. It polls for the lock until Wait or ctx ends; both map to
// an error wrapping ErrLockTimeout (ctx cancellation and Redis failures do not).
// The lease is extended every TTL/3 until Release; Lost is closed when an extension
// finds the lock gone or taken, or when no extension succeeded for a TTL.
func (l *RedisLocker) Lock(ctx context.Context, account string) (Lease, error) {
	if !ValidAccount(account) {
		return nil, fmt.Errorf("%w: %q", ErrBadAccount, account)
	}
	wctx, cancel := context.WithTimeout(ctx, l.opts.Wait)
	defer cancel()
	lock, err := l.client.Obtain(wctx, l.keys.lock(account), l.opts.TTL, &redislock.Options{
		RetryStrategy: redislock.ExponentialBackoff(lockRetryMin, lockRetryMax),
	})
	// The lock was set at most a round trip ago: the local expiry estimate may be late
	// by that much. Writes do not rely on it (they are compare-and-set).
	obtained := l.clk.wallNow()
	switch {
	case err == nil:
	case errors.Is(err, redislock.ErrNotObtained), errors.Is(err, context.DeadlineExceeded),
		ctx.Err() == nil && wctx.Err() != nil: // our wait ran out in the middle of a command
		return nil, fmt.Errorf("%w: account %q: the refresh lock stayed taken (waited up to %s): %w", ErrLockTimeout, account, l.opts.Wait, err)
	default:
		return nil, fmt.Errorf("tokenstore: redis: refresh lock of account %q: %w", account, err)
	}
	lease := &redisLease{
		lock: lock, account: account, ttl: l.opts.TTL, paused: l.opts.pauseExtension, clk: l.clk,
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go lease.keep(obtained)
	return lease, nil
}

type redisLease struct {
	lock    *redislock.Lock
	account string
	ttl     time.Duration
	paused  func(string) bool
	clk     clock

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{} // closed by Release
	done     chan struct{} // closed when keep returns

	releaseOnce sync.Once
	releaseErr  error
}

func (l *redisLease) Lost() <-chan struct{} { return l.lost }

func (l *redisLease) markLost() { l.lostOnce.Do(func() { close(l.lost) }) }

// keep extends the lock every TTL/3 until Release. A failed extension (Redis
// unreachable) is retried at the next tick; the lease is lost when Redis says the
// lock is no longer ours, or when the TTL ran out since the last extension.
func (l *redisLease) keep(since time.Time) {
	defer close(l.done)
	every := l.ttl / 3
	tick := l.clk.ticker(every)
	defer tick.Stop()
	expiry := l.clk.timer(since.Add(l.ttl).Sub(l.clk.wallNow()))
	defer expiry.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-expiry.C:
			l.markLost()
			return
		case <-tick.C:
		}
		if l.paused != nil && l.paused(l.account) {
			continue
		}
		sent := l.clk.wallNow()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := l.lock.Refresh(ctx, l.ttl, nil)
		cancel()
		switch {
		case err == nil:
			expiry.Reset(sent.Add(l.ttl).Sub(l.clk.wallNow()))
		case errors.Is(err, redislock.ErrNotObtained):
			l.markLost()
			return
		}
	}
}

// Release implements Lease: it stops the extension and deletes the lock if it is
// still ours. Releasing a lost lease, or twice, is not an error.
func (l *redisLease) Release(ctx context.Context) error {
	l.releaseOnce.Do(func() {
		close(l.stop)
		select {
		case <-l.done:
		case <-ctx.Done():
			l.releaseErr = ctx.Err()
			return
		}
		err := l.lock.Release(ctx)
		if err != nil && !errors.Is(err, redislock.ErrLockNotHeld) {
			l.releaseErr = fmt.Errorf("tokenstore: redis: releasing the refresh lock of account %q: %w", l.account, err)
		}
	})
	return l.releaseErr
}
