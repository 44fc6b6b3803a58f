package tokenstore

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// invalidations tells peers that an account's record changed and drops the cached
// state of accounts peers changed. Every change is published: a refresh's write, a
// pending write finally stored, a delivery, a seed, a delete. The Notifier does not
// hand the Source its own messages back (its state is already current).
type invalidations struct {
	n     Notifier // nil: a single instance, nothing to tell
	cache *cache
	log   *slog.Logger
}

// publish announces a change of e's account to the peers.
func (iv *invalidations) publish(ctx context.Context, e *entry) {
	if iv.n == nil {
		return
	}
	if err := iv.n.Publish(ctx, e.account); err != nil {
		iv.log.Warn("publishing an invalidation failed", "account", e.account, "error", err)
	}
}

// forget drops the cached state of an account: its record changed (an admin write or
// delete, or a peer's refresh), so the next request reads the store.
func (iv *invalidations) forget(account string) {
	e, ok := iv.cache.lookup(account)
	if !ok {
		return
	}
	e.state.Store(nil)
}

// subscribe follows the peers' invalidations until ctx ends, subscribing again
// after a failure. Messages may have been lost until the new subscription is
// confirmed: then every cached token is re-read from the store at its next use (a
// re-read before the confirmation could still miss a change).
func (iv *invalidations) subscribe(ctx context.Context, clk clock) {
	broken := false
	resubscribed := func() {
		if broken {
			iv.cache.missedInvalidations(clk.Now())
		}
	}
	for ctx.Err() == nil {
		err := iv.n.Subscribe(ctx, resubscribed, iv.forget)
		if ctx.Err() != nil {
			return
		}
		broken = true
		iv.log.Warn("invalidation subscription ended; retrying", "error", err)
		clk.sleep(ctx, time.Second)
	}
}

// storeHealth counts failed store operations and remembers when the last one was.
type storeHealth struct {
	obs  Observer
	clk  clock
	last atomic.Int64 // unix ns, real time
}

// failed counts a failed store operation and notes when it happened.
func (h *storeHealth) failed(op StoreOp) {
	h.last.Store(h.clk.wallNow().UnixNano())
	h.obs.StoreFailed(op)
}

// failedWithin reports whether a store operation failed less than d ago (real time).
func (h *storeHealth) failedWithin(d time.Duration) bool {
	return h.clk.wallNow().Sub(time.Unix(0, h.last.Load())) < d
}

// lifecycle is the Source's background work: goroutines that end by Close.
type lifecycle struct {
	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newLifecycle() *lifecycle {
	ctx, cancel := context.WithCancel(context.Background())
	return &lifecycle{ctx: ctx, cancel: cancel}
}

// goroutine runs fn in the background; Close waits for it.
func (l *lifecycle) goroutine(fn func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		fn()
	}()
}

func (l *lifecycle) close() {
	l.cancel()
	l.wg.Wait()
}
