package proxy

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// errUpstreamIdle is what an upstream body's Read returns once it was cut.
var errUpstreamIdle = errors.New("proxy: the Spotify answer sent nothing for UPSTREAM_IDLE_TIMEOUT")

// idleBody is an upstream response body under UpstreamIdleTimeout: a Read that waits
// that long for bytes is ended by closing the body under it. The ReverseProxy then
// aborts the handler, so net/http closes the caller's connection instead of leaving
// it hanging. The timer runs only while a Read waits: a caller that reads slowly is
// not Spotify's idleness.
//
// It lives in the pooled state with its timer, so the hot path allocates nothing.
// Read and Close come from the handler's goroutine (ReverseProxy or the retrier);
// only expire runs elsewhere.
type idleBody struct {
	rc      io.ReadCloser
	timeout time.Duration
	timer   *time.Timer    // made once per state, then Reset
	pending sync.WaitGroup // an armed timer whose expire may still run
	expired atomic.Bool
}

// watch puts rc under the timeout.
func (b *idleBody) watch(rc io.ReadCloser, timeout time.Duration) {
	b.pending.Wait() // an expire of the previous body has finished
	b.rc, b.timeout = rc, timeout
	b.expired.Store(false)
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.expired.Load() {
		return 0, errUpstreamIdle
	}
	b.pending.Add(1)
	if b.timer == nil {
		b.timer = time.AfterFunc(b.timeout, b.expire)
	} else {
		b.timer.Reset(b.timeout)
	}
	n, err := b.rc.Read(p)
	if b.timer.Stop() {
		b.pending.Done() // expire will not run
	}
	if err != nil && b.expired.Load() {
		err = errUpstreamIdle
	}
	return n, err
}

// expire cuts the body: closing it ends the Read that waits.
func (b *idleBody) expire() {
	b.expired.Store(true)
	b.rc.Close()
	b.pending.Done()
}

func (b *idleBody) Close() error {
	b.pending.Wait()
	return b.rc.Close()
}
