package proxy

import (
	"net/http/httputil"
	"sync"
)

const copyBufferSize = 32 << 10

// bufferPool lends the 32 KiB copy buffers of the ReverseProxy. It pools array
// pointers, so neither Get nor Put allocates.
type bufferPool struct{ p sync.Pool }

// NewBufferPool returns the pool of 32 KiB copy buffers the proxy gives its
// ReverseProxy (exported for the benchmarks' tuned baseline).
func NewBufferPool() httputil.BufferPool { return newBufferPool() }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}
}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[copyBufferSize]byte)[:] }

func (b *bufferPool) Put(x []byte) {
	if cap(x) >= copyBufferSize {
		b.p.Put((*[copyBufferSize]byte)(x[:copyBufferSize]))
	}
}
