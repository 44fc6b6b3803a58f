// Package syncbuf is the output buffer tests hand to code that writes from
// several goroutines (a logger, a child process, a command that keeps running),
// and read while it still writes.
package syncbuf

import (
	"bytes"
	"regexp"
	"sync"
	"time"
)

// Buffer is a bytes.Buffer safe for concurrent use. Its zero value is ready.
type Buffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // receives after a write (made on first use)
}

func (b *Buffer) notify() chan struct{} {
	if b.changed == nil {
		b.changed = make(chan struct{}, 1)
	}
	return b.changed
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.notify() <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitFor returns the first match of re (with its submatches) in what is written,
// waiting for writes until timeout; nil if nothing matched by then.
func (b *Buffer) WaitFor(re *regexp.Regexp, timeout time.Duration) []string {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m
		}
		b.mu.Lock()
		changed := b.notify()
		b.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			return re.FindStringSubmatch(b.String())
		}
	}
}
